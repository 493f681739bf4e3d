// verbs data path: posting work requests, polling and arming completion queues, taking channel events. No
// allocation here; failures come back as errno values for the transport to act on.
#include <arpa/inet.h>
#include <errno.h>

#include "ukeeper/drivers/verbs.h"

namespace uk::verbs {

int CompletionQueue::poll(ibv_wc* out, int max) {
  int n = ibv_poll_cq(cq_.get(), max, out);
  return n >= 0 ? n : -EIO;  // a negative count carries no errno: the queue itself is broken (overrun)
}

int CompletionQueue::arm() { return ibv_req_notify_cq(cq_.get(), 0); }

void* CompletionChannel::take_event() {
  ibv_cq* cq = nullptr;
  void* context = nullptr;
  if (ibv_get_cq_event(channel_.get(), &cq, &context) != 0) return nullptr;  // EAGAIN: none pending
  ibv_ack_cq_events(cq, 1);
  return context;
}

int QueuePair::post_send(ibv_send_wr& first) {
  ibv_send_wr* bad = nullptr;
  return ibv_post_send(qp_.get(), &first, &bad);
}

int QueuePair::post_recv(ibv_recv_wr& first) {
  ibv_recv_wr* bad = nullptr;
  return ibv_post_recv(qp_.get(), &first, &bad);
}

void make_write(ibv_send_wr& wr, ibv_sge& sge, const char* local, uint32_t bytes, uint32_t lkey,
                uint64_t remote_addr, uint32_t rkey, bool with_imm, uint32_t imm, bool inline_ok, bool signaled,
                uint64_t wr_id) {
  wr = ibv_send_wr{};
  wr.wr_id = wr_id;
  if (bytes > 0) {
    sge.addr = reinterpret_cast<uintptr_t>(local);
    sge.length = bytes;
    sge.lkey = lkey;
    wr.sg_list = &sge;
    wr.num_sge = 1;
  }
  wr.opcode = with_imm ? IBV_WR_RDMA_WRITE_WITH_IMM : IBV_WR_RDMA_WRITE;
  if (with_imm) wr.imm_data = htonl(imm);
  unsigned flags = 0;
  if (signaled) flags |= IBV_SEND_SIGNALED;
  if (inline_ok && bytes > 0) flags |= IBV_SEND_INLINE;
  wr.send_flags = flags;
  wr.wr.rdma.remote_addr = remote_addr;
  wr.wr.rdma.rkey = rkey;
}

}  // namespace uk::verbs
