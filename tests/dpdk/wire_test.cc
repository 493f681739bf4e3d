// Framing of the DPDK dataplane (dataplane/dpdk/src/wire.cc): Internet checksums against known values, UDP frames
// built and parsed, every single-byte corruption and truncation refused, checksum offload arithmetic, link headers.
#include "ukeeper/dataplane/dpdk/wire.h"

#include <gtest/gtest.h>

#include <vector>

namespace uk::dpdk {
namespace {

Endpoint endpoint(uint8_t n) {
  Endpoint e;
  e.mac = {0x02, 0, 0, 0, 0, n};
  e.ip = 0x0a000000u | n;  // 10.0.0.n
  e.udp_port = static_cast<uint16_t>(7000 + n);
  return e;
}

std::vector<uint8_t> udp_frame(const Endpoint& from, const Endpoint& to, const std::vector<uint8_t>& payload,
                               ChecksumMode mode = ChecksumMode::kSoftware) {
  std::vector<uint8_t> f(kUdpFrameHeaderBytes + payload.size());
  std::copy(payload.begin(), payload.end(), f.begin() + kUdpFrameHeaderBytes);
  size_t n = write_udp_headers(f.data(), from, to, payload.size(), 0x1234, mode);
  EXPECT_EQ(n, f.size());
  return f;
}

UdpParse parse(const std::vector<uint8_t>& f, const Endpoint& me, UdpFrame* out = nullptr) {
  UdpFrame frame;
  UdpParse r = parse_udp_frame(f.data(), f.size(), me, RxChecksum::kUnknown, RxChecksum::kUnknown, frame);
  if (out != nullptr) *out = frame;
  return r;
}

TEST(DpdkWire, Ipv4HeaderChecksumMatchesTheTextbookExample) {
  // 192.168.0.1 -> 192.168.0.199, the worked example of RFC 1071-style checksums: the sum is 0xb861.
  const uint8_t header[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                              0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(static_cast<uint16_t>(~checksum_fold(checksum_add(0, header, sizeof header))), 0xb861);
  // Odd lengths pad with a zero byte; pieces of even length add up like the whole.
  const uint8_t odd[3] = {0x01, 0x02, 0x03};
  EXPECT_EQ(checksum_fold(checksum_add(0, odd, 3)), 0x0102 + 0x0300);
  EXPECT_EQ(checksum_fold(checksum_add(checksum_add(0, header, 10), header + 10, 10)),
            checksum_fold(checksum_add(0, header, 20)));
}

TEST(DpdkWire, BuildsAndParsesAUdpFrame) {
  Endpoint a = endpoint(1), b = endpoint(2);
  std::vector<uint8_t> payload = {'h', 'e', 'l', 'l', 'o'};
  std::vector<uint8_t> f = udp_frame(a, b, payload);
  UdpFrame got;
  ASSERT_EQ(parse(f, b, &got), UdpParse::kOk);
  EXPECT_EQ(got.src_mac, a.mac);
  EXPECT_EQ(got.src_ip, a.ip);
  EXPECT_EQ(got.src_port, a.udp_port);
  ASSERT_EQ(got.payload_bytes, payload.size());
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), got.payload));
  // Fixed header fields: IPv4, don't-fragment, TTL 64, UDP.
  EXPECT_EQ(get_be16(f.data() + 12), kEtherTypeIpv4);
  EXPECT_EQ(f[14], 0x45);
  EXPECT_EQ(get_be16(f.data() + 20), 0x4000);
  EXPECT_EQ(f[23], kIpProtocolUdp);
  // Ethernet padding after the IP packet is allowed.
  std::vector<uint8_t> padded = f;
  padded.resize(f.size() + 20, 0);
  EXPECT_EQ(parse(padded, b), UdpParse::kOk);
}

TEST(DpdkWire, TrafficForSomeoneElseIsNotOurs) {
  Endpoint a = endpoint(1), b = endpoint(2), c = endpoint(3);
  std::vector<uint8_t> f = udp_frame(a, c, {1, 2, 3});
  EXPECT_EQ(parse(f, b), UdpParse::kNotOurs);  // MAC, IP and port of c
  Endpoint other_port = b;
  other_port.udp_port = 9;
  EXPECT_EQ(parse(udp_frame(a, other_port, {1}), b), UdpParse::kNotOurs);
  std::vector<uint8_t> ipv6 = udp_frame(a, b, {1});
  put_be16(ipv6.data() + 12, 0x86dd);
  EXPECT_EQ(parse(ipv6, b), UdpParse::kNotOurs);
}

TEST(DpdkWire, EverySingleByteCorruptionOfIpUdpOrPayloadIsRefused) {
  Endpoint a = endpoint(1), b = endpoint(2);
  std::vector<uint8_t> payload(300);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 7);
  const std::vector<uint8_t> f = udp_frame(a, b, payload);
  for (size_t at = kEthernetHeaderBytes; at < f.size(); ++at) {
    for (int mask : {0x01, 0x80, 0xff, 0x5a}) {
      std::vector<uint8_t> bad = f;
      bad[at] = static_cast<uint8_t>(bad[at] ^ mask);
      EXPECT_NE(parse(bad, b), UdpParse::kOk) << "byte " << at << " mask " << mask;
    }
  }
  for (size_t at = kUdpFrameHeaderBytes; at < f.size(); ++at) {  // payload bytes: always the UDP checksum
    std::vector<uint8_t> bad = f;
    bad[at] ^= 0x10;
    EXPECT_EQ(parse(bad, b), UdpParse::kBadChecksum);
  }
}

TEST(DpdkWire, TruncationsAndImpossibleLengthsAreRefused) {
  Endpoint a = endpoint(1), b = endpoint(2);
  const std::vector<uint8_t> f = udp_frame(a, b, std::vector<uint8_t>(100, 9));
  for (size_t n = 0; n < f.size(); ++n) {
    std::vector<uint8_t> cut(f.begin(), f.begin() + static_cast<ptrdiff_t>(n));
    EXPECT_NE(parse(cut, b), UdpParse::kOk) << n;
  }
  std::vector<uint8_t> fragment = f;
  put_be16(fragment.data() + 20, 0x2000);  // more fragments follow
  EXPECT_EQ(parse(fragment, b), UdpParse::kBadLength);
  std::vector<uint8_t> options = f;
  options[14] = 0x46;  // IHL 6: options, which ukeeper never sends
  EXPECT_EQ(parse(options, b), UdpParse::kBadLength);
  std::vector<uint8_t> no_checksum = f;
  put_be16(no_checksum.data() + 40, 0);
  EXPECT_EQ(parse(no_checksum, b), UdpParse::kBadChecksum);
}

TEST(DpdkWire, PortVerdictsReplaceTheSoftwareCheck) {
  Endpoint a = endpoint(1), b = endpoint(2);
  std::vector<uint8_t> f = udp_frame(a, b, {1, 2, 3, 4});
  UdpFrame out;
  EXPECT_EQ(parse_udp_frame(f.data(), f.size(), b, RxChecksum::kGood, RxChecksum::kBad, out), UdpParse::kBadChecksum);
  EXPECT_EQ(parse_udp_frame(f.data(), f.size(), b, RxChecksum::kBad, RxChecksum::kGood, out), UdpParse::kBadChecksum);
  f[kUdpFrameHeaderBytes] ^= 1;  // the port said good: the software check is skipped
  EXPECT_EQ(parse_udp_frame(f.data(), f.size(), b, RxChecksum::kGood, RxChecksum::kGood, out), UdpParse::kOk);
}

TEST(DpdkWire, OffloadModeLeavesWhatTheNicCompletesToTheSameChecksums) {
  Endpoint a = endpoint(1), b = endpoint(2);
  std::vector<uint8_t> payload(77, 0xab);
  std::vector<uint8_t> soft = udp_frame(a, b, payload, ChecksumMode::kSoftware);
  std::vector<uint8_t> off = udp_frame(a, b, payload, ChecksumMode::kOffload);
  EXPECT_EQ(get_be16(off.data() + 24), 0);  // IPv4 checksum left to the NIC
  // What a NIC does: IPv4 checksum over the header; UDP checksum over the datagram, seeded with the pseudo-header sum
  // the frame carries in the field.
  put_be16(off.data() + 24, static_cast<uint16_t>(~checksum_fold(checksum_add(0, off.data() + 14, 20))));
  uint16_t udp = static_cast<uint16_t>(~checksum_fold(checksum_add(0, off.data() + 34, off.size() - 34)));
  put_be16(off.data() + 40, udp);
  EXPECT_EQ(off, soft);
}

TEST(DpdkWire, ParsesAndFormatsAddresses) {
  MacAddress mac;
  ASSERT_TRUE(parse_mac("02:aB:00:ff:10:09", mac));
  EXPECT_EQ(format_mac(mac), "02:ab:00:ff:10:09");
  EXPECT_FALSE(parse_mac("02:ab:00:ff:10", mac));
  EXPECT_FALSE(parse_mac("02-ab-00-ff-10-09", mac));
  EXPECT_FALSE(parse_mac("02:ab:00:ff:10:0g", mac));
  uint32_t ip;
  ASSERT_TRUE(parse_ipv4("192.0.2.17", ip));
  EXPECT_EQ(ip, 0xc0000211u);
  EXPECT_EQ(format_ipv4(ip), "192.0.2.17");
  EXPECT_FALSE(parse_ipv4("192.0.2", ip));
  EXPECT_FALSE(parse_ipv4("192.0.2.256", ip));
  EXPECT_FALSE(parse_ipv4("192.0.2.1.", ip));
  EXPECT_FALSE(parse_ipv4("1921.0.2.1", ip));
}

TEST(DpdkWire, LinkHeaderRoundTripsAndRefusesNonsense) {
  LinkHeader h;
  h.type = FrameType::kData;
  h.segment_count = 3;
  h.sender = 7;
  h.receiver = -2;
  h.sender_incarnation = 0x0102030405060708ull;
  h.receiver_incarnation = 99;
  h.first_seq = 1ull << 40;
  h.ack = 12345;
  h.sack_bits = 0x8000000000000001ull;
  uint8_t buf[kLinkHeaderBytes];
  write_link_header(buf, h);
  LinkHeader got;
  ASSERT_TRUE(read_link_header(buf, sizeof buf, got));
  EXPECT_EQ(got.type, h.type);
  EXPECT_EQ(got.segment_count, h.segment_count);
  EXPECT_EQ(got.sender, h.sender);
  EXPECT_EQ(got.receiver, h.receiver);
  EXPECT_EQ(got.sender_incarnation, h.sender_incarnation);
  EXPECT_EQ(got.receiver_incarnation, h.receiver_incarnation);
  EXPECT_EQ(got.first_seq, h.first_seq);
  EXPECT_EQ(got.ack, h.ack);
  EXPECT_EQ(got.sack_bits, h.sack_bits);

  EXPECT_FALSE(read_link_header(buf, sizeof buf - 1, got));
  uint8_t bad[kLinkHeaderBytes];
  std::copy(buf, buf + sizeof buf, bad);
  bad[0] = 'X';
  EXPECT_FALSE(read_link_header(bad, sizeof bad, got));  // magic
  std::copy(buf, buf + sizeof buf, bad);
  bad[4] = 2;
  EXPECT_FALSE(read_link_header(bad, sizeof bad, got));  // version
  std::copy(buf, buf + sizeof buf, bad);
  bad[5] = 9;
  EXPECT_FALSE(read_link_header(bad, sizeof bad, got));  // type
  std::copy(buf, buf + sizeof buf, bad);
  put_be16(bad + 6, 0);
  EXPECT_FALSE(read_link_header(bad, sizeof bad, got));  // DATA without segments
  h.type = FrameType::kAck;
  write_link_header(bad, h);
  EXPECT_FALSE(read_link_header(bad, sizeof bad, got));  // ACK with segments

  SegmentHeader s{kSegmentFirst, 1400, 70000};
  uint8_t seg[kSegmentHeaderBytes];
  write_segment_header(seg, s);
  SegmentHeader sg = read_segment_header(seg);
  EXPECT_EQ(sg.flags, s.flags);
  EXPECT_EQ(sg.bytes, s.bytes);
  EXPECT_EQ(sg.message_bytes, s.message_bytes);
}

}  // namespace
}  // namespace uk::dpdk
