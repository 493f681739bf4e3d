// Thin RAII over rdma-core's libibverbs: device and port discovery, GID selection (RoCE v2 first), protection
// domain, memory registration, completion queues with a completion channel, and RC queue pairs with their state
// transitions (RESET -> INIT -> RTR -> RTS).
//
// Setup calls (verbs.cc) return false or an empty handle and fill an error string naming the device and the verb
// that failed; they may allocate and make system calls. The data path (verbs_datapath.cc: post send, post
// receive, poll, arm) never allocates and reports failures as errno values, so a transport can call it per
// message. Nothing here is thread-safe; each object belongs to the thread that owns the transport using it.
//
// Ownership: every class owns one verbs object and releases it in its destructor; objects are move-only.
// Destroy in dependency order (queue pairs, then completion queues, then memory regions, then the device) —
// member order in the owner takes care of it.
#pragma once

#include <infiniband/verbs.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace uk::verbs {

// A verbs object pointer with its release function.
template <typename T, int (*Release)(T*)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(T* p) : p_(p) {}
  Handle(Handle&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  T* get() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }
  void reset() {
    if (p_ != nullptr) Release(std::exchange(p_, nullptr));
  }

 private:
  T* p_ = nullptr;
};

// Which device, port and GID to use. The defaults pick the first device with an active port and, on Ethernet
// (RoCE), a RoCE v2 GID holding an IPv4-mapped address (routable, and what rxe and ConnectX expose for an IPv4
// netdev), else any RoCE v2 GID, else RoCE v1.
struct DeviceOptions {
  std::string device_name;  // empty: first device with an active port
  int port_num = 0;         // 0: first active port of the device
  int gid_index = -1;       // -1: choose as above; >= 0: that entry of the GID table
};

// What was chosen, for the connection bootstrap and the logs.
struct PortInfo {
  std::string device_name;
  uint8_t port_num = 0;
  bool ethernet = false;  // link layer Ethernet (RoCE) rather than InfiniBand
  uint16_t lid = 0;       // InfiniBand only
  int gid_index = -1;
  ibv_gid gid{};
  uint32_t gid_type = 0;  // enum ibv_gid_type
  ibv_mtu active_mtu = IBV_MTU_1024;
  uint32_t max_qp_wr = 0;
  int max_cqe = 0;
  // "rxe0 port 1, GID[1] ::ffff:192.0.2.1 (RoCE v2), MTU 1024"
  std::string describe() const;
};

// The names of the RDMA devices this host has (empty when none, or no kernel support).
std::vector<std::string> device_names();
// Text form of a GID ("fe80::1", "::ffff:192.0.2.1").
std::string gid_text(const ibv_gid& gid);
const char* gid_type_name(uint32_t gid_type);
int mtu_bytes(ibv_mtu mtu);

class MemoryRegion;
class CompletionChannel;
class CompletionQueue;
class QueuePair;

// One opened device port and its protection domain: every region and queue pair of a transport shares it.
class Device {
 public:
  // Opens the device, queries the port and chooses the GID. Returns null and sets `error` when there is no RDMA
  // device, no active port, or no usable GID ("no RDMA device found" is the message a TCP fallback keys on).
  static std::unique_ptr<Device> open(const DeviceOptions& options, std::string& error);
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;
  ~Device();

  ibv_context* context() const { return context_.get(); }
  ibv_pd* pd() const { return pd_.get(); }
  const PortInfo& port() const { return port_; }

 private:
  Device() = default;
  Handle<ibv_context, ibv_close_device> context_;
  Handle<ibv_pd, ibv_dealloc_pd> pd_;
  PortInfo port_;
};

// A registered range of the caller's memory. The caller keeps the memory alive (and unmoved) at least as long
// as the region.
class MemoryRegion {
 public:
  MemoryRegion() = default;
  // `access` is a mask of ibv_access_flags (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE for a ring that a
  // peer writes into; 0 for memory only read by our own sends).
  static MemoryRegion register_memory(Device& device, void* addr, size_t bytes, int access, std::string& error);
  explicit operator bool() const { return static_cast<bool>(mr_); }
  uint32_t lkey() const { return mr_.get()->lkey; }
  uint32_t rkey() const { return mr_.get()->rkey; }
  char* addr() const { return static_cast<char*>(mr_.get()->addr); }
  size_t bytes() const { return mr_.get()->length; }

 private:
  Handle<ibv_mr, ibv_dereg_mr> mr_;
};

// Completion events for any number of completion queues, as one pollable file descriptor (non-blocking).
class CompletionChannel {
 public:
  CompletionChannel() = default;
  static CompletionChannel create(Device& device, std::string& error);
  explicit operator bool() const { return static_cast<bool>(channel_); }
  ibv_comp_channel* get() const { return channel_.get(); }
  int fd() const { return channel_.get()->fd; }
  // Takes one pending event without blocking and returns its queue's context (the pointer given to
  // CompletionQueue::create), or null when none is pending. The event is acknowledged at once: a queue with a
  // read but unacknowledged event cannot be destroyed, while events never read die with their queue.
  void* take_event();

 private:
  Handle<ibv_comp_channel, ibv_destroy_comp_channel> channel_;
};

// A completion queue, optionally tied to a completion channel for blocking.
class CompletionQueue {
 public:
  CompletionQueue() = default;
  // `entries`: at least the send plus receive work requests that may complete before the next poll (the device
  // may round up). `context` comes back from CompletionChannel::take_event.
  static CompletionQueue create(Device& device, int entries, CompletionChannel* channel, void* context,
                                std::string& error);
  explicit operator bool() const { return static_cast<bool>(cq_); }
  ibv_cq* get() const { return cq_.get(); }

  // Data path. Returns the number of completions written to `out` (0..max), or -errno.
  int poll(ibv_wc* out, int max);
  // Asks for one event on the channel at the next completion. Returns 0 or an errno value.
  int arm();

 private:
  Handle<ibv_cq, ibv_destroy_cq> cq_;
};

// Sizes asked of a queue pair; create() reports what the device granted.
struct QpCaps {
  uint32_t max_send_wr = 128;
  uint32_t max_recv_wr = 256;
  uint32_t max_inline_data = 256;  // the largest send posted inline (copied into the work request, no lkey)
};

// Reliable-connection timers (InfiniBand encodings).
struct RcTimers {
  uint8_t ack_timeout_exp = 14;  // local ACK timeout 4.096 us * 2^exp (14: ~67 ms)
  uint8_t retry_count = 7;       // transport retries before IBV_WC_RETRY_EXC_ERR
  uint8_t rnr_retry = 7;         // 7 = retry without limit while the receiver has no receive posted
  uint8_t min_rnr_timer = 1;     // how long a sender waits after an RNR NAK (1: 0.01 ms)
};

// What the remote side of an RC connection told us during bootstrap.
struct RemoteQp {
  uint32_t qpn = 0;
  uint32_t psn = 0;  // its first send PSN, our expected receive PSN (24 bits)
  ibv_gid gid{};
  uint16_t lid = 0;
  ibv_mtu mtu = IBV_MTU_1024;  // its port's active MTU; the path uses the smaller of both
};

// A reliable-connection queue pair.
class QueuePair {
 public:
  QueuePair() = default;
  // Creates the QP in RESET. Asks for caps.max_inline_data and, if the device refuses, retries with smaller
  // inline sizes down to 0; caps() tells what was granted.
  static QueuePair create_rc(Device& device, CompletionQueue& send_cq, CompletionQueue& recv_cq, const QpCaps& caps,
                             std::string& error);
  explicit operator bool() const { return static_cast<bool>(qp_); }
  uint32_t qpn() const { return qp_.get()->qp_num; }
  const QpCaps& caps() const { return caps_; }

  // RESET -> INIT on `port`, allowing remote peers the `access` mask (IBV_ACCESS_REMOTE_WRITE for rings).
  bool to_init(const PortInfo& port, int access, std::string& error);
  // INIT -> RTR: connects to `remote` over the path from `port` (GRH with our GID index on RoCE).
  bool to_rtr(const PortInfo& port, const RemoteQp& remote, const RcTimers& timers, std::string& error);
  // RTR -> RTS with our first send PSN.
  bool to_rts(uint32_t send_psn, const RcTimers& timers, std::string& error);

  // Data path. Return 0 or an errno value (ENOMEM: the queue is full).
  int post_send(ibv_send_wr& first);
  int post_recv(ibv_recv_wr& first);

 private:
  Handle<ibv_qp, ibv_destroy_qp> qp_;
  QpCaps caps_;
};

// Fills an RDMA WRITE (with immediate when `with_imm`) of [local, local + bytes) to remote_addr. Inline when
// `bytes` fits the QP's inline size (the data is copied at post time; `lkey` unused). `imm` is in host order.
void make_write(ibv_send_wr& wr, ibv_sge& sge, const char* local, uint32_t bytes, uint32_t lkey,
                uint64_t remote_addr, uint32_t rkey, bool with_imm, uint32_t imm, bool inline_ok, bool signaled,
                uint64_t wr_id);

}  // namespace uk::verbs
