// The write-ahead log: preallocated segment files of checksummed records, appended through io_uring with group
// commit. Appending and making durable are separate steps: append() only queues bytes in memory; pump() sends
// everything queued as ONE durable write (RWF_DSYNC, or a write plus an fdatasync) when the device can take
// one; completions arrive on completion_fd() and reap() turns them into a higher persisted_zxid(). The caller (the
// server's event loop) applies and acknowledges transactions up to persisted_zxid(). With O_DIRECT and
// Durability::kFsync up to max_batches_in_flight such writes are in flight at once (wal_datapath.cc); they may
// complete in any order, and persisted_zxid() only ever covers a prefix of the log that is entirely on disk.
//
// On-disk format (little-endian), version 2:
//   segment file  <dir>/wal-<first zxid as 16 hex digits>.seg, preallocated to segment_bytes with fallocate
//   block 0       segment header, 4096 bytes: magic "UKWALSEG", u32 format version, u32 header size,
//                 u64 first zxid, u64 segment bytes, u32 crc32c of the preceding header bytes; rest zero
//   then records  back to back from offset 4096: u32 magic 0x55574C53 ("SLWU"), u32 payload length,
//                 u64 zxid, u32 crc32c over (length, zxid, back, payload), u32 back, payload bytes.
//                 `back`: how many bytes before the record the segment's durable data ended when the record's
//                 write was submitted (everything before that offset was on disk then). The recovery scan uses it
//                 to tell writes in flight together that landed out of order (a torn tail) from damage to data
//                 that was acknowledged (scan.h).
//   padding       u32 magic 0x55574C50 ("PLWU"), then the same fields (zxid 0, payload zeros): fills the rest of
//                 a block so the next write starts on a fresh one while this one is in flight.
//                 A zero magic ends the segment's data (preallocated space reads as zeros).
//   version 1     (still read) records with magic 0x55574C52 ("RLWU"), the crc over (length, zxid, payload) and
//                 the `back` field reserved and zero; no padding. This version writes version 2 headers and
//                 records, also when it appends to a version 1 segment; older versions refuse a version 2 header.
// Records never span segments; zxids strictly increase across the whole log; a segment's records are >= the
// first zxid in its name. The log only ever shrinks at its ends: purge_before() deletes whole segments at the
// front; truncate_after() and reset() cut it back at the tail (ZAB synchronization with a new leader).
//
// Rolling (see wal_spare.cc): the next segment is created ahead of time as <dir>/wal-spare.next (zero-filled,
// no header; not a segment file name, so the scan never reads it). The first batch of the new segment writes
// the header block together with its records into the spare, fdatasyncs it, renames it to its segment name
// (RENAME_NOREPLACE) and fsyncs the directory, as one linked io_uring chain; the batch is acknowledged only after
// the whole chain completed. A crash before the rename leaves only the spare holding unacknowledged records;
// open() deletes any spare it finds.
//
// Cutting a segment (truncate_after): the segment is copied up to the first removed record into
// <dir>/wal-<first zxid>.seg.tmp (header block, kept records, zeros to segment_bytes), the copy fdatasynced and
// renamed over the segment, the directory fsynced. Zeroing the removed records in place is not crash-safe: writes
// land in any order, and zeros followed by a valid record read as corruption. Segments after the cut are deleted
// first, newest first with a directory fsync after each, so a crash mid-way leaves a shorter prefix of the old log,
// never a gap. A *.seg.tmp file is never read as a segment; open() deletes one a crash left behind.
//
// Thread-safety: one thread owns a Wal (the thread that calls append/pump/reap).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ukeeper/common/config.h"
#include "ukeeper/common/types.h"

namespace uk {

struct WalOptions {
  std::string dir;                            // created if missing
  uint64_t segment_bytes = 64ull << 20;       // preallocated size of each segment file (from preAllocSize)
  bool try_direct_io = true;                  // O_DIRECT where the filesystem takes it; else buffered writes
  Durability durability = Durability::kFsync;
  // kAsync: how often queued writes are fdatasynced in the background.
  int async_sync_interval_ms = 100;
  // Fault injection for tests (0 = off): the Nth fdatasync after open reports EIO.
  int fault_fail_sync_at = 0;
  // The next segment file is created, preallocated and zero-filled in the background (through the ring) once
  // the current one is this full, so a roll only writes the new header with the first batch and renames the
  // file into place. 0-100; 100 starts it only when a roll needs it (the roll then waits for it, and so do the
  // appends behind it, but the caller's loop never blocks). false: the segment is created at the roll, blocking
  // (the behaviour before pre-creation; also the fallback when pre-creation fails).
  bool precreate_segments = true;
  int precreate_at_fill_percent = 50;
  // true: the fdatasync of a batch is linked to its write (one submission). false: it is submitted when the
  // write completes. Measured in bench/wal_bench.cc (see the comment at the top of wal_datapath.cc).
  bool link_fdatasync = true;
  // With O_DIRECT, a batch that needs a sync (and does not roll) is one write with RWF_DSYNC instead of a write
  // and an fdatasync: io_uring hands every fdatasync to a worker thread, whose wake-ups cost more than the disk
  // on a VM (see the top of wal_datapath.cc). Buffered writes keep the fdatasync.
  bool dsync_direct_writes = true;
  // With O_DIRECT, RWF_DSYNC writes and Durability::kFsync, up to this many batch writes are in flight at once
  // (capped at 4): records that arrive while one is on its way go out in the next without waiting for it. 1: one
  // batch at a time. See "Overlapping batches" in wal_datapath.cc and the measurements in bench/README.md: the log
  // alone gains with 2 and more with 4, end to end on the project's 2-core VM the difference is inside the noise,
  // and overlapping batches each start on a fresh 4 KiB block, so a lightly loaded log grows up to ~7x faster than
  // its records (more rolls, zero-fill and recovery reading). Hence 1 by default.
  int max_batches_in_flight = 1;
  // Recovery reads segment files in windows of this many bytes (a record bigger than a window gets one of its
  // own): the scan holds at most max(chunk, largest record) + a few KiB of file bytes at a time.
  uint64_t recovery_chunk_bytes = 1ull << 20;  // = wal::kDefaultScanChunkBytes
  // Tests only: called for every batch write when it is submitted (`data` holds its bytes) and when it completed
  // successfully (`data` null; with RWF_DSYNC that means durable), with the segment offset and length. Lets a
  // test rebuild what a power cut at any moment could leave on the disk (tests/unit/storage/wal_overlap_test.cc).
  std::function<void(uint64_t offset, const uint8_t* data, uint32_t len)> on_batch_write;
};

// What open() found and did, for logs and `ukctl`.
struct WalRecovery {
  uint64_t segments = 0;
  uint64_t records = 0;
  Zxid last_zxid = 0;
  bool direct_io = false;             // appends use O_DIRECT
  bool truncated_tail = false;        // a torn or CRC-failing tail record was cut off
  std::string truncated_file;
  uint64_t truncated_offset = 0;
  std::vector<std::string> messages;  // one line per noteworthy event (fallbacks, truncation)
};

class Wal {
 public:
  using ReplayFn = std::function<void(Zxid zxid, std::string_view payload)>;

  // Opens (or creates) the log in options.dir: replays every valid record in zxid order through `replay`,
  // truncates a torn or CRC-failing tail (logged in `recovery` with file and offset), and positions appends after
  // the last valid record. Returns null with `error` naming the file and offset when the log is corrupt before
  // its tail (the node must not start), or when the directory cannot be used.
  static std::unique_ptr<Wal> open(const WalOptions& options, const ReplayFn& replay, WalRecovery& recovery,
                                   std::string& error);

  virtual ~Wal() = default;

  // Queues one record in memory; no I/O. zxid must exceed every zxid appended before.
  virtual void append(Zxid zxid, std::string_view payload) = 0;
  // Starts I/O for everything queued when no write is in flight; otherwise the queued records wait and go out
  // together when the current write completes (group commit). At a segment roll whose next segment is still
  // being prepared in the background, they likewise wait for that preparation (never blocking the caller).
  // Cheap to call often.
  // The Wal has no thread and no timer: with Durability::kAsync the background fdatasync (at most every
  // async_sync_interval_ms) is issued from pump()/reap(), so the caller must also call pump() periodically
  // (e.g. on every event-loop tick), not only after appends.
  virtual void pump() = 0;
  // Readable when I/O has completed; register it with epoll and call reap() when it fires.
  virtual int completion_fd() const = 0;
  // Processes completions (then pumps again). Safe to call when nothing completed.
  virtual void reap() = 0;

  // Every record with zxid <= persisted_zxid() is durable as the durability mode promises: on disk for kFsync,
  // written to memory (the kernel or the queue) for kAsync.
  virtual Zxid persisted_zxid() const = 0;
  virtual Zxid appended_zxid() const = 0;
  // Non-empty once a write or fdatasync failed (e.g. ENOSPC, EIO): nothing after the last success is durable
  // and the log takes no more I/O. The node must stop acknowledging writes and say why.
  virtual const std::string& failure() const = 0;
  // Blocks until everything appended is durable or failed (shutdown and tests). Returns false on failure.
  virtual bool sync_all() = 0;

  // Deletes every segment file all of whose records have zxid <= `zxid` (those a snapshot at `zxid` or later
  // covers): segment i goes when segment i+1 exists and starts at or below zxid + 1. Never the segment being
  // appended to, so I/O in flight is untouched. Fsyncs the directory after deleting; returns how many files
  // were deleted. Failures (a file that cannot be unlinked, a failed directory fsync) are logged, not fatal:
  // the files are only kept longer. Blocking (readdir, unlink, fsync): call it rarely, e.g. after a snapshot.
  virtual size_t purge_before(Zxid zxid) = 0;

  // ZAB synchronization (TRUNC): removes every record with zxid > `zxid`, durably, before returning. Waits for
  // I/O in flight, drops queued records above zxid, deletes segment files that start above zxid, cuts the segment
  // holding the first removed record at that record (see the header comment), and positions appends right after
  // the last kept record. `zxid` need not be a record's zxid: records <= zxid stay, queued or written (queued ones
  // stay queued). persisted_zxid() and appended_zxid() become min(old, zxid); the next append must exceed that.
  // No I/O when zxid >= appended_zxid(). With Durability::kNone (appends are not written) the files an earlier
  // run left are still cut, so a reopen never replays a removed record.
  // Returns false with `error` (file, offset, errno text) on an I/O failure or on a damaged record met while
  // finding the cut; the Wal is then failed (failure() non-empty) as after any I/O error, and a reopen finds the
  // old log or a prefix of it no shorter than the kept records. Blocking (reads the kept part of the cut segment,
  // writes about segment_bytes, two syncs or more): call it rarely.
  virtual bool truncate_after(Zxid zxid, std::string& error) = 0;
  // ZAB synchronization (SNAP): discards the whole log durably after a snapshot at `after` replaced the state:
  // waits for I/O in flight, drops queued records, deletes every segment file (newest first, a directory fsync
  // after each). persisted_zxid() and appended_zxid() become `after` (the snapshot holds everything up to it);
  // the next append must have a zxid > `after` and starts a fresh segment. `after` may be below or above the
  // old log's zxids. Failures as for truncate_after. Blocking.
  virtual bool reset(Zxid after, std::string& error) = 0;

  // Counters for mntr: batches (write+fdatasync pairs) and records written; the records' bytes (headers
  // included) and the padding written after them (overlapping batches end on a block boundary: what the log
  // grows by beyond its records).
  virtual uint64_t batches_written() const = 0;
  virtual uint64_t records_written() const = 0;
  virtual uint64_t record_bytes_written() const = 0;
  virtual uint64_t padding_bytes_written() const = 0;
  // The most batch writes that were in flight at once (see WalOptions::max_batches_in_flight).
  virtual uint64_t peak_batches_in_flight() const = 0;
};

}  // namespace uk
