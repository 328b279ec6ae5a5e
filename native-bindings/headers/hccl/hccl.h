/* Subset of HCCL's <hccl/hccl_types.h>, <hccl/hccl_comm.h> (HCOMM: lifecycle, libhcomm.so in 8.5+/9.x,
 * libhccl.so before) and <hccl/hccl.h> (collectives, libhccl.so) — hicann/hccl v8.5.0 f2534cc7,
 * hicann/hcomm 2b912e7d; see ../shared/reference/acl-hccl-api.md §2.9 — that
 * dev.strata.nativebind.hccl.hccl_h was written from.
 */
#include <stdint.h>
typedef enum { HCCL_SUCCESS = 0 /* … HCCL_E_OOM = 24 */ } HcclResult;
typedef void *HcclComm;
typedef void *aclrtStream;
typedef enum { HCCL_DATA_TYPE_INT8 = 0, HCCL_DATA_TYPE_INT32 = 2, HCCL_DATA_TYPE_FP32 = 4, HCCL_DATA_TYPE_INT64 = 5 } HcclDataType;
typedef enum { HCCL_REDUCE_SUM = 0, HCCL_REDUCE_PROD = 1, HCCL_REDUCE_MAX = 2, HCCL_REDUCE_MIN = 3 } HcclReduceOp;
#define HCCL_ROOT_INFO_BYTES 4108
typedef struct HcclRootInfoDef { char internal[HCCL_ROOT_INFO_BYTES]; } HcclRootInfo;

HcclResult HcclGetRootInfo(HcclRootInfo *rootInfo);
HcclResult HcclCommInitRootInfo(uint32_t nRanks, const HcclRootInfo *rootInfo, uint32_t rank, HcclComm *comm);
HcclResult HcclBarrier(HcclComm comm, aclrtStream stream);
HcclResult HcclCommDestroy(HcclComm comm);
HcclResult HcclGetRankSize(HcclComm comm, uint32_t *rankSize);
HcclResult HcclGetRankId(HcclComm comm, uint32_t *rank);
const char *HcclGetErrorString(HcclResult code);
HcclResult HcclGetCommAsyncError(HcclComm comm, HcclResult *asyncError);
HcclResult HcclAllReduce(void *sendBuf, void *recvBuf, uint64_t count, HcclDataType dataType, HcclReduceOp op, HcclComm comm, aclrtStream stream);
