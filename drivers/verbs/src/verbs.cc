// verbs setup: device and port discovery, GID choice, protection domain, registration, queues and queue-pair
// state transitions. The per-message calls are in verbs_datapath.cc.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "ukeeper/drivers/verbs.h"

namespace uk::verbs {
namespace {

struct DeviceListFree {
  void operator()(ibv_device** list) const { ibv_free_device_list(list); }
};
using DeviceList = std::unique_ptr<ibv_device*, DeviceListFree>;

std::string errno_text(int err) { return std::strerror(err); }

bool ipv4_mapped(const ibv_gid& gid) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(gid.raw, kPrefix, sizeof kPrefix) == 0;
}

bool all_zero(const ibv_gid& gid) {
  return std::all_of(std::begin(gid.raw), std::end(gid.raw), [](uint8_t b) { return b == 0; });
}

// Higher is better; 0 means unusable. On Ethernet an IPv4-mapped RoCE v2 GID routes over UDP/IP like the netdev
// it belongs to; link-local RoCE v2 GIDs work too within one L2 segment; RoCE v1 is the last resort.
int gid_rank(const ibv_gid_entry& e, bool ethernet) {
  if (all_zero(e.gid)) return 0;
  if (!ethernet) return e.gid_type == IBV_GID_TYPE_IB ? 1 : 0;
  if (e.gid_type == IBV_GID_TYPE_ROCE_V2) return ipv4_mapped(e.gid) ? 3 : 2;
  return e.gid_type == IBV_GID_TYPE_ROCE_V1 ? 1 : 0;
}

bool choose_gid(ibv_context* ctx, const ibv_device_attr& dev, const ibv_port_attr& port, int wanted_index,
                PortInfo& info, std::string& why) {
  // One call for the whole table (every port); a few KiB at setup.
  std::vector<ibv_gid_entry> table(static_cast<size_t>(port.gid_tbl_len) * std::max<int>(dev.phys_port_cnt, 1));
  ssize_t n = ibv_query_gid_table(ctx, table.data(), table.size(), 0);
  if (n < 0) {
    why = "ibv_query_gid_table: " + errno_text(static_cast<int>(-n));
    return false;
  }
  const ibv_gid_entry* best = nullptr;
  int best_rank = 0;
  for (ssize_t i = 0; i < n; ++i) {
    const ibv_gid_entry& e = table[static_cast<size_t>(i)];
    if (e.port_num != info.port_num) continue;
    if (wanted_index >= 0) {
      if (e.gid_index == static_cast<uint32_t>(wanted_index)) best = &e;
      continue;
    }
    int rank = gid_rank(e, info.ethernet);
    if (rank > best_rank || (rank == best_rank && rank > 0 && e.gid_index < best->gid_index)) {
      best = &e;
      best_rank = rank;
    }
  }
  if (best == nullptr) {
    why = wanted_index >= 0 ? "GID index " + std::to_string(wanted_index) + " is empty"
                            : std::string("no usable GID (is an IP address assigned to the netdev?)");
    return false;
  }
  info.gid_index = static_cast<int>(best->gid_index);
  info.gid = best->gid;
  info.gid_type = best->gid_type;
  return true;
}

// Opens `device` and fills `info` for the first port that matches the options and is active.
Handle<ibv_context, ibv_close_device> open_port(ibv_device* device, const DeviceOptions& options, PortInfo& info,
                                               std::string& why) {
  Handle<ibv_context, ibv_close_device> ctx(ibv_open_device(device));
  if (!ctx) {
    why = "ibv_open_device: " + errno_text(errno);
    return {};
  }
  ibv_device_attr dev{};
  if (int rc = ibv_query_device(ctx.get(), &dev); rc != 0) {
    why = "ibv_query_device: " + errno_text(rc);
    return {};
  }
  why = "no active port";
  for (int p = 1; p <= dev.phys_port_cnt; ++p) {
    if (options.port_num != 0 && p != options.port_num) continue;
    ibv_port_attr port{};
    if (int rc = ibv_query_port(ctx.get(), static_cast<uint8_t>(p), &port); rc != 0) {
      why = "ibv_query_port " + std::to_string(p) + ": " + errno_text(rc);
      continue;
    }
    if (port.state != IBV_PORT_ACTIVE) {
      why = "port " + std::to_string(p) + " is not active (state " + ibv_port_state_str(port.state) + ")";
      continue;
    }
    info.device_name = ibv_get_device_name(device);
    info.port_num = static_cast<uint8_t>(p);
    info.ethernet = port.link_layer == IBV_LINK_LAYER_ETHERNET;
    info.lid = port.lid;
    info.active_mtu = port.active_mtu;
    info.max_qp_wr = static_cast<uint32_t>(dev.max_qp_wr);
    info.max_cqe = dev.max_cqe;
    std::string gid_why;
    if (choose_gid(ctx.get(), dev, port, options.gid_index, info, gid_why)) return ctx;
    why = "port " + std::to_string(p) + ": " + gid_why;
  }
  return {};
}

}  // namespace

std::vector<std::string> device_names() {
  std::vector<std::string> names;
  int count = 0;
  DeviceList list(ibv_get_device_list(&count));
  for (int i = 0; list && i < count; ++i) names.emplace_back(ibv_get_device_name(list.get()[i]));
  return names;
}

std::string gid_text(const ibv_gid& gid) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, gid.raw, text, sizeof text);
  return text;
}

const char* gid_type_name(uint32_t gid_type) {
  switch (gid_type) {
    case IBV_GID_TYPE_IB: return "IB";
    case IBV_GID_TYPE_ROCE_V1: return "RoCE v1";
    case IBV_GID_TYPE_ROCE_V2: return "RoCE v2";
    default: return "unknown";
  }
}

int mtu_bytes(ibv_mtu mtu) { return 128 << static_cast<int>(mtu); }  // IBV_MTU_256 = 1

std::string PortInfo::describe() const {
  return device_name + " port " + std::to_string(port_num) + ", GID[" + std::to_string(gid_index) + "] " +
         gid_text(gid) + " (" + gid_type_name(gid_type) + "), MTU " + std::to_string(mtu_bytes(active_mtu));
}

std::unique_ptr<Device> Device::open(const DeviceOptions& options, std::string& error) {
  int count = 0;
  errno = 0;
  DeviceList list(ibv_get_device_list(&count));
  if (!list || count == 0) {
    error = "no RDMA device found";
    if (!list && errno != 0) error += " (ibv_get_device_list: " + errno_text(errno) + ")";
    return nullptr;
  }
  std::string tried;
  bool named_found = false;
  for (int i = 0; i < count; ++i) {
    ibv_device* dev = list.get()[i];
    std::string name = ibv_get_device_name(dev);
    if (!options.device_name.empty() && name != options.device_name) {
      tried += (tried.empty() ? "" : ", ") + name;
      continue;
    }
    named_found = true;
    std::unique_ptr<Device> d(new Device());
    std::string why;
    d->context_ = open_port(dev, options, d->port_, why);
    if (!d->context_) {
      tried += (tried.empty() ? "" : "; ") + name + ": " + why;
      continue;
    }
    d->pd_ = Handle<ibv_pd, ibv_dealloc_pd>(ibv_alloc_pd(d->context_.get()));
    if (!d->pd_) {
      error = name + ": ibv_alloc_pd: " + errno_text(errno);
      return nullptr;
    }
    return d;
  }
  error = !named_found ? "RDMA device " + options.device_name + " not found (present: " + tried + ")"
                       : "no usable RDMA port (" + tried + ")";
  return nullptr;
}

// Members release the protection domain, then the context.
Device::~Device() = default;

MemoryRegion MemoryRegion::register_memory(Device& device, void* addr, size_t bytes, int access,
                                           std::string& error) {
  MemoryRegion r;
  r.mr_ = Handle<ibv_mr, ibv_dereg_mr>(ibv_reg_mr(device.pd(), addr, bytes, access));
  if (!r.mr_) {
    int err = errno;
    error = device.port().device_name + ": ibv_reg_mr of " + std::to_string(bytes) + " bytes: " + errno_text(err);
    if (err == ENOMEM || err == EPERM) error += " (RLIMIT_MEMLOCK too low? see ulimit -l)";
  }
  return r;
}

CompletionChannel CompletionChannel::create(Device& device, std::string& error) {
  CompletionChannel c;
  c.channel_ = Handle<ibv_comp_channel, ibv_destroy_comp_channel>(ibv_create_comp_channel(device.context()));
  if (!c.channel_) {
    error = device.port().device_name + ": ibv_create_comp_channel: " + errno_text(errno);
    return c;
  }
  int flags = fcntl(c.fd(), F_GETFL);
  if (flags < 0 || fcntl(c.fd(), F_SETFL, flags | O_NONBLOCK) != 0) {
    error = device.port().device_name + ": completion channel O_NONBLOCK: " + errno_text(errno);
    c.channel_.reset();
  }
  return c;
}

CompletionQueue CompletionQueue::create(Device& device, int entries, CompletionChannel* channel, void* context,
                                        std::string& error) {
  CompletionQueue q;
  q.cq_ = Handle<ibv_cq, ibv_destroy_cq>(
      ibv_create_cq(device.context(), entries, context, channel != nullptr ? channel->get() : nullptr, 0));
  if (!q.cq_) {
    error = device.port().device_name + ": ibv_create_cq(" + std::to_string(entries) + "): " + errno_text(errno);
  }
  return q;
}

QueuePair QueuePair::create_rc(Device& device, CompletionQueue& send_cq, CompletionQueue& recv_cq,
                               const QpCaps& caps, std::string& error) {
  QueuePair q;
  // The largest inline size is not in ibv_device_attr: ask, and halve on refusal (rxe, mlx5 and most others
  // grant a few hundred bytes; 0 still works, every send then reads from registered memory).
  for (uint32_t inline_bytes = caps.max_inline_data;; inline_bytes /= 2) {
    ibv_qp_init_attr attr{};
    attr.send_cq = send_cq.get();
    attr.recv_cq = recv_cq.get();
    attr.qp_type = IBV_QPT_RC;
    attr.sq_sig_all = 0;
    attr.cap.max_send_wr = caps.max_send_wr;
    attr.cap.max_recv_wr = caps.max_recv_wr;
    attr.cap.max_send_sge = 1;
    attr.cap.max_recv_sge = 1;
    attr.cap.max_inline_data = inline_bytes;
    q.qp_ = Handle<ibv_qp, ibv_destroy_qp>(ibv_create_qp(device.pd(), &attr));
    if (q.qp_) {
      q.caps_.max_send_wr = attr.cap.max_send_wr;
      q.caps_.max_recv_wr = attr.cap.max_recv_wr;
      q.caps_.max_inline_data = attr.cap.max_inline_data;
      return q;
    }
    if (inline_bytes == 0) break;
  }
  error = device.port().device_name + ": ibv_create_qp(RC, " + std::to_string(caps.max_send_wr) + " send, " +
          std::to_string(caps.max_recv_wr) + " receive work requests): " + errno_text(errno);
  return q;
}

bool QueuePair::to_init(const PortInfo& port, int access, std::string& error) {
  ibv_qp_attr attr{};
  attr.qp_state = IBV_QPS_INIT;
  attr.pkey_index = 0;
  attr.port_num = port.port_num;
  attr.qp_access_flags = static_cast<unsigned>(access);
  int rc = ibv_modify_qp(qp_.get(), &attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
  if (rc != 0) error = "QP " + std::to_string(qpn()) + " to INIT: " + errno_text(rc);
  return rc == 0;
}

bool QueuePair::to_rtr(const PortInfo& port, const RemoteQp& remote, const RcTimers& timers, std::string& error) {
  ibv_qp_attr attr{};
  attr.qp_state = IBV_QPS_RTR;
  attr.path_mtu = std::min(port.active_mtu, remote.mtu);
  attr.dest_qp_num = remote.qpn;
  attr.rq_psn = remote.psn;
  attr.max_dest_rd_atomic = 1;  // no RDMA reads or atomics are used, but 0 is refused by some providers
  attr.min_rnr_timer = timers.min_rnr_timer;
  // Always routed with a GRH: mandatory on RoCE, harmless on InfiniBand within a subnet.
  attr.ah_attr.is_global = 1;
  attr.ah_attr.grh.dgid = remote.gid;
  attr.ah_attr.grh.sgid_index = static_cast<uint8_t>(port.gid_index);
  attr.ah_attr.grh.hop_limit = 64;
  attr.ah_attr.dlid = remote.lid;
  attr.ah_attr.sl = 0;
  attr.ah_attr.src_path_bits = 0;
  attr.ah_attr.port_num = port.port_num;
  int rc = ibv_modify_qp(qp_.get(), &attr,
                         IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                             IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
  if (rc != 0) {
    error = "QP " + std::to_string(qpn()) + " to RTR (remote QPN " + std::to_string(remote.qpn) + ", GID " +
            gid_text(remote.gid) + "): " + errno_text(rc);
  }
  return rc == 0;
}

bool QueuePair::to_rts(uint32_t send_psn, const RcTimers& timers, std::string& error) {
  ibv_qp_attr attr{};
  attr.qp_state = IBV_QPS_RTS;
  attr.timeout = timers.ack_timeout_exp;
  attr.retry_cnt = timers.retry_count;
  attr.rnr_retry = timers.rnr_retry;
  attr.sq_psn = send_psn;
  attr.max_rd_atomic = 1;
  int rc = ibv_modify_qp(qp_.get(), &attr,
                         IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
                             IBV_QP_MAX_QP_RD_ATOMIC);
  if (rc != 0) error = "QP " + std::to_string(qpn()) + " to RTS: " + errno_text(rc);
  return rc == 0;
}

}  // namespace uk::verbs
