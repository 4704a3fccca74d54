// The control block the loop thread and the page helper thread share (page-helper.ts and
// page-helper-thread.ts): Int32 slots, then the path of the segment file (UTF-8).
export const SEQ = 0; // bumped and notified whenever the helper must look again
export const STOP = 1; // 1: the helper ends
export const GEN = 2; // seqlock over the segment fields: odd while the loop rewrites them
export const AT = 3; // the loop's write position: bytes from the start of the helper's mapping
export const WAKE = 4; // the helper wants SEQ bumped once AT reaches this
export const FLUSHED = 5; // the loop's msync'ed position, same unit: below it, nothing to write back
export const MAP_ERRNO = 6; // errno of a failed open/mmap: the helper stopped
export const POPULATE_ERRNO = 7; // errno of a refused MADV_POPULATE_WRITE: prefaulting stopped
export const SYNC_ERRNO = 8; // errno of a failed write-back msync: the helper stopped
export const LENGTH = 9; // bytes to map
export const OFFSET = 10; // file offset of the mapping (page-aligned)
export const PATH_LENGTH = 11;
export const POPULATED = 12; // the helper's progress ahead (bytes from the mapping's start), for tests
export const SYNCED = 13; // the helper's progress behind, same unit
// The running CRC32C of the bytes the helper wrote back since the loop's last flush, under a
// seqlock the helper alone writes: CRC_SEGMENT is the GEN of the mapping it was computed in,
// [CRC_FROM, CRC_TO) the bytes it covers (same unit as AT), CRC_VALUE the CRC (as an int32).
export const CRC_GEN = 14;
export const CRC_SEGMENT = 15;
export const CRC_FROM = 16;
export const CRC_TO = 17;
export const CRC_VALUE = 18;
export const PATH_START = 128; // bytes: after the int32 slots above
export const PATH_BYTES = 4096;
/** Where the helper wants no wake-up. */
export const NEVER = 2147483647;
