//! Ring set-up with fallbacks, the provided-buffer ring, and the message a user
//! sees when the kernel or a sandbox refuses io_uring.

use std::io;
use std::ptr::NonNull;

use io_uring::{types, types::BufRingEntry, IoUring};

use super::config::{BUF_GROUP, RING_ENTRIES, RING_FALLBACK_ENV};

/// io_uring could not be used at all; the text names the cause and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RingError(pub String);

/// Build a worker's ring: `SINGLE_ISSUER | DEFER_TASKRUN` where the kernel has them
/// (6.1+), `COOP_TASKRUN` on older kernels, plain otherwise.
pub fn new_ring() -> Result<IoUring, RingError> {
    let attempts: [fn(&mut io_uring::Builder); 3] = [
        |b| {
            b.setup_single_issuer()
                .setup_defer_taskrun()
                .setup_submit_all();
        },
        |b| {
            b.setup_coop_taskrun().setup_submit_all();
        },
        |_| {},
    ];
    let mut last = None;
    let skip = std::env::var(RING_FALLBACK_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for configure in attempts.into_iter().skip(skip) {
        let mut builder = IoUring::builder();
        configure(&mut builder);
        builder.setup_cqsize(RING_ENTRIES * 4);
        match builder.build(RING_ENTRIES) {
            Ok(ring) => return Ok(ring),
            // EINVAL: this kernel lacks a flag we asked for; try fewer.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(explain(&e)),
        }
    }
    Err(explain(&last.unwrap_or_else(|| {
        io::Error::from_raw_os_error(libc::EINVAL)
    })))
}

/// Turn an `io_uring_setup` failure into a sentence with the cause and the fix.
pub fn explain(e: &io::Error) -> RingError {
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let msg = match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) if disabled == "2" || disabled == "1" => format!(
            "io_uring is disabled on this host (kernel.io_uring_disabled={disabled}): \
             io_uring_setup failed with {e}. Fix: `sysctl -w kernel.io_uring_disabled=0` \
             (or add this user to the io_uring group when the value is 1)."
        ),
        Some(libc::EPERM) | Some(libc::EACCES) => format!(
            "io_uring was refused (io_uring_setup: {e}), most likely by a seccomp profile: \
             Docker's and containerd's default profiles block io_uring. Fix: run with a \
             profile that allows io_uring_setup, io_uring_enter and io_uring_register (the \
             Helm chart ships one; with Docker use --security-opt seccomp=<profile>), or \
             seccomp Unconfined."
        ),
        Some(libc::ENOSYS) => format!(
            "io_uring is not available (io_uring_setup: {e}): the kernel is older than 5.1, \
             built without io_uring, or a sandbox such as gVisor hides it. Fix: run on Linux \
             6.1 or newer with io_uring enabled, outside gVisor."
        ),
        Some(libc::ENOMEM) => format!(
            "io_uring could not allocate its rings (io_uring_setup: {e}). Fix: raise the \
             locked-memory limit (`ulimit -l`) or use fewer threads."
        ),
        _ => format!("io_uring set-up failed: {e}"),
    };
    RingError(msg)
}

/// A provided-buffer ring: the kernel picks a free buffer for each receive, we hand
/// it back once its bytes are parsed. Owns the ring entries and the buffers.
pub struct BufRing {
    entries: NonNull<BufRingEntry>,
    entries_len: usize,
    buffers: Vec<u8>,
    buf_size: usize,
    count: u16,
    tail: u16,
}

impl BufRing {
    /// Allocate `count` buffers of `buf_size` bytes and register them with `ring`.
    pub fn register(ring: &IoUring, count: u16, buf_size: usize) -> Result<Self, RingError> {
        assert!(
            count.is_power_of_two(),
            "buffer count must be a power of two"
        );
        let entries_len = count as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: anonymous private mapping, no file; checked for MAP_FAILED below.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                entries_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(RingError(format!(
                "cannot map the receive buffer ring: {}",
                io::Error::last_os_error()
            )));
        }
        let entries = NonNull::new(addr.cast::<BufRingEntry>()).expect("mmap returned non-null");
        let mut this = Self {
            entries,
            entries_len,
            buffers: vec![0u8; count as usize * buf_size],
            buf_size,
            count,
            tail: 0,
        };
        // SAFETY: the mapping is page aligned, `count` entries long, and lives until
        // drop, which happens after the ring that uses it is dropped (see Worker field order).
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(addr as u64, count, BUF_GROUP, 0)
                .map_err(|e| {
                    RingError(format!(
                        "cannot register the receive buffer ring: {e} (needs Linux 5.19+)"
                    ))
                })?;
        }
        for bid in 0..count {
            this.push(bid);
        }
        this.publish();
        Ok(this)
    }

    /// The bytes the kernel wrote into buffer `bid`.
    #[inline]
    pub fn get(&self, bid: u16, len: usize) -> &[u8] {
        let start = bid as usize * self.buf_size;
        &self.buffers[start..start + len.min(self.buf_size)]
    }

    /// Queue buffer `bid` for reuse; the kernel sees it after `publish`.
    #[inline]
    pub fn push(&mut self, bid: u16) {
        let slot = (self.tail & (self.count - 1)) as usize;
        let addr = self.buffers.as_ptr() as u64 + bid as u64 * self.buf_size as u64;
        // SAFETY: slot < count, inside the mapping; the kernel only reads entries
        // between its head and our published tail, and this slot is past the tail.
        let entry = unsafe { &mut *self.entries.as_ptr().add(slot) };
        entry.set_addr(addr);
        entry.set_len(self.buf_size as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Make every pushed buffer visible to the kernel at once.
    #[inline]
    pub fn publish(&mut self) {
        // SAFETY: the tail field lives inside entry 0 of our page-aligned mapping;
        // a release store orders the entry writes before the kernel sees the tail.
        unsafe {
            let tail =
                BufRingEntry::tail(self.entries.as_ptr()) as *const std::sync::atomic::AtomicU16;
            (*tail).store(self.tail, std::sync::atomic::Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: unmapping the region mapped in `register`, once.
        unsafe {
            libc::munmap(self.entries.as_ptr().cast(), self.entries_len);
        }
    }
}

/// The calling thread's registered handle for a ring: each `io_uring_enter`
/// then names the ring by index and the kernel skips looking up (and
/// reference counting) its descriptor. The `io-uring` crate keeps such a
/// registration only inside one `Submitter` value, so the worker's one
/// wait-and-submit call is made here.
pub struct RegisteredRing {
    index: u32,
}

// Kernel ABI (include/uapi/linux/io_uring.h), stable since Linux 5.18.
const IORING_REGISTER_RING_FDS: libc::c_uint = 20;
const IORING_ENTER_GETEVENTS: libc::c_uint = 1;
const IORING_ENTER_EXT_ARG: libc::c_uint = 8;
const IORING_ENTER_REGISTERED_RING: libc::c_uint = 16;

#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

impl RegisteredRing {
    /// Register `ring` for the calling thread; `None` when the kernel refuses
    /// (before 5.18), and the worker then enters through the crate as before.
    pub fn register(ring: &IoUring) -> Option<Self> {
        use std::os::fd::AsRawFd;
        let mut up = RsrcUpdate {
            offset: u32::MAX, // any free slot; the kernel writes back which
            resv: 0,
            data: ring.as_raw_fd() as u64,
        };
        // SAFETY: one valid io_uring_rsrc_update the kernel reads and writes back.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                ring.as_raw_fd(),
                IORING_REGISTER_RING_FDS,
                &mut up as *mut RsrcUpdate,
                1,
            )
        };
        (r == 1).then_some(Self { index: up.offset })
    }

    /// Submit the `to_submit` queued entries and wait up to `ts` for one completion.
    pub fn submit_and_wait(&self, to_submit: u32, ts: &types::Timespec) -> io::Result<()> {
        let arg = GeteventsArg {
            sigmask: 0,
            sigmask_sz: 0,
            min_wait_usec: 0,
            ts: ts as *const types::Timespec as u64,
        };
        // SAFETY: `index` is this thread's registration of a live ring (the
        // worker registers it on the thread that runs it); `arg` and `ts`
        // outlive the call; the queued SQEs' tail was published when the
        // crate's submission queue handle was dropped.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                self.index,
                to_submit,
                1u32,
                IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG | IORING_ENTER_REGISTERED_RING,
                &arg as *const GeteventsArg,
                std::mem::size_of::<GeteventsArg>(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
