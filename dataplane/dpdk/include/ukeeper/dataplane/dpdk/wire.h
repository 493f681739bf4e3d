// The bytes of the DPDK dataplane, without DPDK: Ethernet II + IPv4 (no options) + UDP, with software Internet
// checksums, and ukeeper's link header and segment headers inside the UDP payload. Pure functions over caller
// buffers, so framing is unit-tested with no port at all. Numbers on the wire are big-endian.
//
//   Ethernet   14  dst mac, src mac, ethertype 0x0800
//   IPv4       20  version 4, IHL 5, DF, TTL 64, protocol 17, header checksum
//   UDP         8  ports, length, checksum (always set: a zero checksum is refused on receive)
//   link       64  magic "UKDP", version u8, type u8, segment count u16, sender id i64, receiver id i64,
//                  sender incarnation u64, receiver incarnation u64 (as the sender knows it, 0 = unknown),
//                  first sequence number u64 (DATA), cumulative ack u64, selective-ack bits u64 (bit i: the
//                  segment ack + 2 + i has arrived too; ack + 1 is the hole that holds the cumulative ack back)
//   segments       `count` times: flags u8 (bit 0 first fragment, bit 1 last fragment), reserved u8,
//                  segment bytes u16, message bytes u32 (the whole message's length), then the segment's bytes
//
// A message small enough travels as one segment with both flags set; several such segments share a frame
// (batching). A larger message is split into segments of at most max_segment_bytes(mtu), one sequence number each.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace uk::dpdk {

using MacAddress = std::array<uint8_t, 6>;

// One end of the dataplane: where a node's frames come from and go to. ip and udp_port in host byte order.
struct Endpoint {
  MacAddress mac{};
  uint32_t ip = 0;
  uint16_t udp_port = 0;
};

bool parse_mac(std::string_view text, MacAddress& out);  // "02:00:00:00:00:01"
std::string format_mac(const MacAddress& mac);
bool parse_ipv4(std::string_view text, uint32_t& out);  // dotted quad, host byte order
std::string format_ipv4(uint32_t ip);

constexpr size_t kEthernetHeaderBytes = 14;
constexpr size_t kIpv4HeaderBytes = 20;
constexpr size_t kUdpHeaderBytes = 8;
constexpr size_t kUdpFrameHeaderBytes = kEthernetHeaderBytes + kIpv4HeaderBytes + kUdpHeaderBytes;  // 42
constexpr size_t kLinkHeaderBytes = 64;
constexpr size_t kSegmentHeaderBytes = 8;
constexpr size_t kMinMtuBytes = 576;    // every IPv4 host must take this much
constexpr size_t kMaxMtuBytes = 9000;   // jumbo frames; a segment length must fit the u16 field
constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint8_t kIpProtocolUdp = 17;

// Largest frame for an IP MTU (no VLAN tag, no CRC: devices add and strip those).
constexpr size_t max_frame_bytes(size_t mtu_bytes) { return kEthernetHeaderBytes + mtu_bytes; }
// Largest ukeeper payload (link header + segments) in one frame.
constexpr size_t max_link_bytes(size_t mtu_bytes) { return mtu_bytes - kIpv4HeaderBytes - kUdpHeaderBytes; }
// Largest segment payload in one frame: a message up to this size is never fragmented.
constexpr size_t max_segment_bytes(size_t mtu_bytes) {
  return max_link_bytes(mtu_bytes) - kLinkHeaderBytes - kSegmentHeaderBytes;
}

// ---- Internet checksum (RFC 1071) ----
// Adds `bytes` to a running 32-bit one's-complement accumulator (call with an even-length prefix for all but the last
// piece). Fold with checksum_fold(); the checksum field gets ~fold.
uint64_t checksum_add(uint64_t sum, const uint8_t* data, size_t bytes);
uint16_t checksum_fold(uint64_t sum);

// How the sender fills the two checksums.
enum class ChecksumMode : uint8_t {
  kSoftware,  // both computed here
  kOffload,   // IPv4 checksum 0 and the UDP field holds the pseudo-header sum: the port finishes both
};

// Writes the Ethernet, IPv4 and UDP headers for a UDP payload of `payload_bytes` already at
// frame + kUdpFrameHeaderBytes, including the checksums per `mode`. Returns the frame's length.
size_t write_udp_headers(uint8_t* frame, const Endpoint& from, const Endpoint& to, size_t payload_bytes,
                         uint16_t ip_id, ChecksumMode mode);

// What the receive side learned from a port's checksum offload (kUnknown = check in software).
enum class RxChecksum : uint8_t { kUnknown, kGood, kBad };

enum class UdpParse : uint8_t {
  kOk,
  kNotOurs,      // not IPv4/UDP to our MAC, IP and port (ARP, IPv6, other traffic on the segment): ignored
  kBadLength,    // truncated, or lengths that contradict each other; IP fragments and options
  kBadChecksum,  // IPv4 header or UDP checksum wrong, or the UDP checksum missing
};

struct UdpFrame {
  MacAddress src_mac{};
  uint32_t src_ip = 0;
  uint16_t src_port = 0;
  const uint8_t* payload = nullptr;
  size_t payload_bytes = 0;
};

// Parses and checks a received frame addressed to `me`. Never reads beyond frame + frame_bytes.
UdpParse parse_udp_frame(const uint8_t* frame, size_t frame_bytes, const Endpoint& me, RxChecksum ip_verdict,
                         RxChecksum udp_verdict, UdpFrame& out);

// ---- ukeeper link header ----
enum class FrameType : uint8_t {
  kHello = 1,  // "my channel to you is down": carries incarnations only
  kData = 2,   // segments from first_seq on, plus the cumulative ack
  kAck = 3,    // the cumulative ack alone (also the keepalive of an idle channel)
};

struct LinkHeader {
  FrameType type = FrameType::kHello;
  uint16_t segment_count = 0;
  int64_t sender = 0;
  int64_t receiver = 0;
  uint64_t sender_incarnation = 0;
  uint64_t receiver_incarnation = 0;
  uint64_t first_seq = 0;
  uint64_t ack = 0;
  uint64_t sack_bits = 0;
};

constexpr uint8_t kLinkVersion = 1;
constexpr uint8_t kSegmentFirst = 1u << 0;
constexpr uint8_t kSegmentLast = 1u << 1;

void write_link_header(uint8_t* out, const LinkHeader& h);
// False when the bytes are not a ukeeper link header (magic, version, type, count that contradicts the type).
bool read_link_header(const uint8_t* in, size_t bytes, LinkHeader& out);

struct SegmentHeader {
  uint8_t flags = 0;
  uint16_t bytes = 0;
  uint32_t message_bytes = 0;
};

void write_segment_header(uint8_t* out, const SegmentHeader& s);
SegmentHeader read_segment_header(const uint8_t* in);

// Big-endian helpers shared by the link code.
inline void put_be16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void put_be32(uint8_t* p, uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}
inline void put_be64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}
inline uint16_t get_be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t get_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline uint64_t get_be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace uk::dpdk
