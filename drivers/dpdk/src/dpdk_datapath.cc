// DPDK hot path: burst receive and transmit, bulk mbuf allocation, frame access. Setup is in dpdk_setup.cc.
// Single queue (0) per direction; the port's owning thread only.
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "ukeeper/drivers/dpdk/dpdk_port.h"

namespace uk {
namespace {

DpdkRxChecksum verdict(uint64_t flags, uint64_t mask, uint64_t good, uint64_t bad) {
  uint64_t v = flags & mask;
  if (v == good) return DpdkRxChecksum::kGood;
  if (v == bad) return DpdkRxChecksum::kBad;
  return DpdkRxChecksum::kUnknown;  // UNKNOWN, or NONE (the device did not look): software checks
}

}  // namespace

uint16_t DpdkPort::rx_burst(rte_mbuf** mbufs, uint16_t count) { return rte_eth_rx_burst(port_id_, 0, mbufs, count); }

uint16_t DpdkPort::tx_burst(rte_mbuf** mbufs, uint16_t count) { return rte_eth_tx_burst(port_id_, 0, mbufs, count); }

bool DpdkPort::alloc_bulk(rte_mbuf** mbufs, unsigned count) {
  return rte_pktmbuf_alloc_bulk(pool_, mbufs, count) == 0;
}

void DpdkPort::free_bulk(rte_mbuf** mbufs, unsigned count) {
  if (count > 0) rte_pktmbuf_free_bulk(mbufs, count);
}

DpdkRxFrame DpdkPort::rx_frame(const rte_mbuf* m) {
  DpdkRxFrame f;
  f.data = rte_pktmbuf_mtod(m, const uint8_t*);
  f.bytes = m->data_len;
  f.single_segment = m->nb_segs == 1 && m->pkt_len == m->data_len;
  f.ip_checksum = verdict(m->ol_flags, RTE_MBUF_F_RX_IP_CKSUM_MASK, RTE_MBUF_F_RX_IP_CKSUM_GOOD,
                          RTE_MBUF_F_RX_IP_CKSUM_BAD);
  f.l4_checksum = verdict(m->ol_flags, RTE_MBUF_F_RX_L4_CKSUM_MASK, RTE_MBUF_F_RX_L4_CKSUM_GOOD,
                          RTE_MBUF_F_RX_L4_CKSUM_BAD);
  return f;
}

uint8_t* DpdkPort::tx_frame_data(rte_mbuf* m) { return rte_pktmbuf_mtod(m, uint8_t*); }

void DpdkPort::tx_frame_commit(rte_mbuf* m, uint32_t bytes, bool offload_checksums) {
  m->data_len = static_cast<uint16_t>(bytes);
  m->pkt_len = bytes;
  if (offload_checksums) {
    m->l2_len = RTE_ETHER_HDR_LEN;
    m->l3_len = sizeof(rte_ipv4_hdr);
    m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM;
  }
}

}  // namespace uk
