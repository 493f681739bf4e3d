// Ethernet/IPv4/UDP framing, Internet checksums and ukeeper's link and segment headers (see wire.h).
#include "ukeeper/dataplane/dpdk/wire.h"

#include <cstdio>
#include <cstring>

namespace uk::dpdk {
namespace {

constexpr uint8_t kMagic[4] = {'U', 'K', 'D', 'P'};
constexpr uint16_t kIpFlagDontFragment = 0x4000;
constexpr uint16_t kIpFragmentMask = 0x3fff;  // MF flag + fragment offset
constexpr uint8_t kIpTtl = 64;

// Sum of the UDP pseudo-header: source and destination address, protocol, UDP length.
uint64_t pseudo_header_sum(uint32_t src_ip, uint32_t dst_ip, uint16_t udp_bytes) {
  return uint64_t{src_ip >> 16} + (src_ip & 0xffff) + (dst_ip >> 16) + (dst_ip & 0xffff) + kIpProtocolUdp + udp_bytes;
}

bool verify(RxChecksum verdict, uint64_t sum) {
  if (verdict == RxChecksum::kGood) return true;
  if (verdict == RxChecksum::kBad) return false;
  return checksum_fold(sum) == 0xffff;  // a correct checksum makes the whole sum all ones
}

}  // namespace

bool parse_mac(std::string_view text, MacAddress& out) {
  if (text.size() != 17) return false;
  for (size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[i * 3 - 1] != ':') return false;
    unsigned v = 0;
    for (size_t j = 0; j < 2; ++j) {
      char c = text[i * 3 + j];
      unsigned d;
      if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
      else return false;
      v = v * 16 + d;
    }
    out[i] = static_cast<uint8_t>(v);
  }
  return true;
}

std::string format_mac(const MacAddress& m) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return buf;
}

bool parse_ipv4(std::string_view text, uint32_t& out) {
  uint32_t ip = 0;
  size_t pos = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (pos >= text.size() || text[pos] != '.') return false;
      ++pos;
    }
    size_t start = pos;
    unsigned v = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && pos - start < 3) {
      v = v * 10 + static_cast<unsigned>(text[pos] - '0');
      ++pos;
    }
    if (pos == start || v > 255) return false;
    ip = (ip << 8) | v;
  }
  if (pos != text.size()) return false;
  out = ip;
  return true;
}

std::string format_ipv4(uint32_t ip) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
  return buf;
}

uint64_t checksum_add(uint64_t sum, const uint8_t* data, size_t bytes) {
  // Four 16-bit words per step into a 64-bit accumulator: no carry can be lost before checksum_fold().
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    sum += (uint64_t{data[i]} << 8 | data[i + 1]) + (uint64_t{data[i + 2]} << 8 | data[i + 3]) +
           (uint64_t{data[i + 4]} << 8 | data[i + 5]) + (uint64_t{data[i + 6]} << 8 | data[i + 7]);
  }
  for (; i + 2 <= bytes; i += 2) sum += uint64_t{data[i]} << 8 | data[i + 1];
  if (i < bytes) sum += uint64_t{data[i]} << 8;  // an odd last byte is padded with a zero
  return sum;
}

uint16_t checksum_fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

size_t write_udp_headers(uint8_t* frame, const Endpoint& from, const Endpoint& to, size_t payload_bytes,
                         uint16_t ip_id, ChecksumMode mode) {
  const uint16_t udp_bytes = static_cast<uint16_t>(kUdpHeaderBytes + payload_bytes);
  const uint16_t ip_bytes = static_cast<uint16_t>(kIpv4HeaderBytes + udp_bytes);
  uint8_t* eth = frame;
  std::memcpy(eth, to.mac.data(), 6);
  std::memcpy(eth + 6, from.mac.data(), 6);
  put_be16(eth + 12, kEtherTypeIpv4);

  uint8_t* ip = frame + kEthernetHeaderBytes;
  ip[0] = 0x45;  // version 4, 5 words of header
  ip[1] = 0;
  put_be16(ip + 2, ip_bytes);
  put_be16(ip + 4, ip_id);
  put_be16(ip + 6, kIpFlagDontFragment);
  ip[8] = kIpTtl;
  ip[9] = kIpProtocolUdp;
  put_be16(ip + 10, 0);
  put_be32(ip + 12, from.ip);
  put_be32(ip + 16, to.ip);

  uint8_t* udp = ip + kIpv4HeaderBytes;
  put_be16(udp, from.udp_port);
  put_be16(udp + 2, to.udp_port);
  put_be16(udp + 4, udp_bytes);
  put_be16(udp + 6, 0);

  uint64_t pseudo = pseudo_header_sum(from.ip, to.ip, udp_bytes);
  if (mode == ChecksumMode::kOffload) {
    put_be16(udp + 6, checksum_fold(pseudo));  // the port adds the rest and complements
  } else {
    put_be16(ip + 10, static_cast<uint16_t>(~checksum_fold(checksum_add(0, ip, kIpv4HeaderBytes))));
    uint16_t udp_sum = static_cast<uint16_t>(~checksum_fold(checksum_add(pseudo, udp, udp_bytes)));
    put_be16(udp + 6, udp_sum == 0 ? 0xffff : udp_sum);  // 0 means "no checksum" in UDP over IPv4
  }
  return kEthernetHeaderBytes + ip_bytes;
}

UdpParse parse_udp_frame(const uint8_t* frame, size_t frame_bytes, const Endpoint& me, RxChecksum ip_verdict,
                         RxChecksum udp_verdict, UdpFrame& out) {
  if (frame_bytes < kEthernetHeaderBytes) return UdpParse::kBadLength;
  if (get_be16(frame + 12) != kEtherTypeIpv4) return UdpParse::kNotOurs;
  if (std::memcmp(frame, me.mac.data(), 6) != 0) return UdpParse::kNotOurs;
  if (frame_bytes < kEthernetHeaderBytes + kIpv4HeaderBytes) return UdpParse::kBadLength;
  const uint8_t* ip = frame + kEthernetHeaderBytes;
  if (ip[0] != 0x45) return UdpParse::kBadLength;  // not version 4, or options (ukeeper never sends them)
  if (ip[9] != kIpProtocolUdp || get_be32(ip + 16) != me.ip) return UdpParse::kNotOurs;
  const size_t ip_bytes = get_be16(ip + 2);
  // Ethernet may pad a short frame, so the frame can be longer than the IP packet, never shorter.
  if (ip_bytes < kIpv4HeaderBytes + kUdpHeaderBytes || ip_bytes > frame_bytes - kEthernetHeaderBytes) {
    return UdpParse::kBadLength;
  }
  if ((get_be16(ip + 6) & kIpFragmentMask) != 0) return UdpParse::kBadLength;  // a fragment: never ours
  if (!verify(ip_verdict, checksum_add(0, ip, kIpv4HeaderBytes))) return UdpParse::kBadChecksum;

  const uint8_t* udp = ip + kIpv4HeaderBytes;
  if (get_be16(udp + 2) != me.udp_port) return UdpParse::kNotOurs;
  const size_t udp_bytes = get_be16(udp + 4);
  if (udp_bytes != ip_bytes - kIpv4HeaderBytes) return UdpParse::kBadLength;
  if (get_be16(udp + 6) == 0) return UdpParse::kBadChecksum;  // ukeeper always sends one
  const uint32_t src_ip = get_be32(ip + 12);
  uint64_t sum = pseudo_header_sum(src_ip, me.ip, static_cast<uint16_t>(udp_bytes));
  if (udp_verdict != RxChecksum::kGood) sum = checksum_add(sum, udp, udp_bytes);
  if (!verify(udp_verdict, sum)) return UdpParse::kBadChecksum;

  std::memcpy(out.src_mac.data(), frame + 6, 6);
  out.src_ip = src_ip;
  out.src_port = get_be16(udp);
  out.payload = udp + kUdpHeaderBytes;
  out.payload_bytes = udp_bytes - kUdpHeaderBytes;
  return UdpParse::kOk;
}

void write_link_header(uint8_t* out, const LinkHeader& h) {
  std::memcpy(out, kMagic, 4);
  out[4] = kLinkVersion;
  out[5] = static_cast<uint8_t>(h.type);
  put_be16(out + 6, h.segment_count);
  put_be64(out + 8, static_cast<uint64_t>(h.sender));
  put_be64(out + 16, static_cast<uint64_t>(h.receiver));
  put_be64(out + 24, h.sender_incarnation);
  put_be64(out + 32, h.receiver_incarnation);
  put_be64(out + 40, h.first_seq);
  put_be64(out + 48, h.ack);
  put_be64(out + 56, h.sack_bits);
}

bool read_link_header(const uint8_t* in, size_t bytes, LinkHeader& out) {
  if (bytes < kLinkHeaderBytes || std::memcmp(in, kMagic, 4) != 0 || in[4] != kLinkVersion) return false;
  const uint8_t type = in[5];
  if (type < static_cast<uint8_t>(FrameType::kHello) || type > static_cast<uint8_t>(FrameType::kAck)) return false;
  out.type = static_cast<FrameType>(type);
  out.segment_count = get_be16(in + 6);
  out.sender = static_cast<int64_t>(get_be64(in + 8));
  out.receiver = static_cast<int64_t>(get_be64(in + 16));
  out.sender_incarnation = get_be64(in + 24);
  out.receiver_incarnation = get_be64(in + 32);
  out.first_seq = get_be64(in + 40);
  out.ack = get_be64(in + 48);
  out.sack_bits = get_be64(in + 56);
  // Only DATA carries segments, and always at least one.
  return (out.type == FrameType::kData) == (out.segment_count > 0);
}

void write_segment_header(uint8_t* out, const SegmentHeader& s) {
  out[0] = s.flags;
  out[1] = 0;
  put_be16(out + 2, s.bytes);
  put_be32(out + 4, s.message_bytes);
}

SegmentHeader read_segment_header(const uint8_t* in) {
  SegmentHeader s;
  s.flags = in[0];
  s.bytes = get_be16(in + 2);
  s.message_bytes = get_be32(in + 4);
  return s;
}

}  // namespace uk::dpdk
