//! A file mapping that can grow without moving: the mapping sits at the
//! start of a reservation of address space (anonymous, `PROT_NONE`,
//! `MAP_NORESERVE`: it takes no memory and no commit charge), and a growth
//! maps the file's next pages over the reservation with `MAP_FIXED`, one
//! system call that replaces only reserved pages. The data keeps its
//! address, so pointers into it (NumPy views of a growing array) stay valid.
//!
//! Written by hand rather than with memmap2, which every other mapping of
//! this crate used before: memmap2 maps wherever the kernel places the
//! mapping, and its `remap` without moving (`mremap` without
//! `MREMAP_MAYMOVE`) fails whenever another mapping sits right after, which
//! the kernel's top-down placement makes the usual case (each new mapping
//! goes just below the previous one). No crate maps into a reservation.
//! Shrinking gives the cut pages back to the reservation.

use std::ffi::c_void;
use std::io;
use std::os::fd::AsFd;
use std::ptr::{null_mut, NonNull};

use rustix::mm::{self, MapFlags, MsyncFlags, ProtFlags};

/// What a [`Region`] may do with its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read-only, shared with the file.
    ReadOnly,
    /// Read-write, writes reach the file.
    Shared,
    /// Read-write, writes stay in this process (copy-on-write).
    Private,
}

impl Access {
    fn prot(self) -> ProtFlags {
        match self {
            Self::ReadOnly => ProtFlags::READ,
            Self::Shared | Self::Private => ProtFlags::READ | ProtFlags::WRITE,
        }
    }

    fn flags(self) -> MapFlags {
        match self {
            Self::ReadOnly | Self::Shared => MapFlags::SHARED,
            Self::Private => MapFlags::PRIVATE,
        }
    }
}

/// `len` bytes of a file mapped at a fixed address, with address space
/// reserved after them to grow into.
#[derive(Debug)]
pub(crate) struct Region {
    /// Start of the reservation: the file's page at `file_offset`.
    base: NonNull<c_void>,
    /// Bytes of address space owned from `base` (mapped, then reserved).
    reserved: usize,
    /// Bytes of the file mapped from `base` (whole pages).
    mapped: usize,
    /// Bytes from `base` to the data (the offset's distance from its page).
    lead: usize,
    /// Bytes of data.
    len: usize,
    /// The page-aligned file offset mapped at `base`.
    file_offset: u64,
    access: Access,
}

// SAFETY: a Region owns its range of address space as memmap2's `Mmap` owns
// its own (which is Send and Sync): nothing in it is tied to a thread, and
// its bytes are only reached through `&self`/`&mut self` borrows.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

fn page() -> usize {
    rustix::param::page_size()
}

fn too_large() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "the mapping's length overflows the address space")
}

/// How much address space to reserve after a mapping of `len` bytes: as
/// much again, at least 1 GiB, at most 256 GiB (so a growing array moves
/// O(log n) times, each time to a reservation twice as large); under an
/// address-space limit (`ulimit -v`, which reserved space counts against),
/// at most a quarter of what the limit leaves the process.
pub(crate) fn room_after(len: usize) -> usize {
    let room = len.clamp(1 << 30, 1 << 38);
    match rustix::process::getrlimit(rustix::process::Resource::As).current {
        None => room,
        Some(limit) => {
            let used = std::fs::read_to_string("/proc/self/statm")
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                .map_or(u64::MAX, |pages| pages.saturating_mul(page() as u64));
            room.min(usize::try_from(limit.saturating_sub(used) / 4).unwrap_or(usize::MAX))
        }
    }
}

/// The alignment the kernel gives a file mapping's address (modulo the
/// file offset) so that large page-cache folios map whole, one page-table
/// entry each (`thp_get_unmapped_area`): a PMD, 2 MiB on x86-64. A mapping
/// placed without it maps them 4 KiB at a time: `mmarray apply --mul` over
/// a cold 12 GiB file took 89 s instead of 14 s (3.2 M page faults instead
/// of 5.5 K, and `MADV_POPULATE_WRITE`, `msync` and `MADV_PAGEOUT` per 4 KiB
/// entry), measured on the 2-core machine.
fn huge_alignment() -> usize {
    static ALIGN: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *ALIGN.get_or_init(|| {
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .filter(|n| n.is_power_of_two() && *n <= 1 << 30)
            .unwrap_or(2 << 20)
            .max(page())
    })
}

/// Reserves `n` bytes of address space at an address congruent to
/// `file_offset` modulo [`huge_alignment`] (over-reserving by that much,
/// then giving the slop before and after back).
fn reserve_congruent(n: usize, file_offset: u64) -> io::Result<*mut c_void> {
    let align = huge_alignment();
    let total = n.checked_add(align).ok_or_else(too_large)?;
    // SAFETY: a new anonymous mapping at an address of the kernel's
    // choosing touches no existing memory.
    let raw = unsafe { mm::mmap_anonymous(null_mut(), total, ProtFlags::empty(), MapFlags::PRIVATE | MapFlags::NORESERVE) }? as usize;
    let want = (file_offset % align as u64) as usize;
    let base = raw + (want + align - raw % align) % align;
    // SAFETY: [raw, base) and [base + n, raw + total) are the parts of the
    // reservation just made that are not kept; nothing else uses them.
    unsafe {
        if base > raw {
            mm::munmap(raw as *mut c_void, base - raw)?;
        }
        if raw + total > base + n {
            mm::munmap((base + n) as *mut c_void, raw + total - (base + n))?;
        }
    }
    Ok(base as *mut c_void)
}

impl Region {
    /// Maps `len` bytes of `file` from `offset`, with `room` bytes of
    /// address space reserved after them (fewer if the kernel cannot
    /// reserve that much: then none). `len` may be 0 only if `offset` is not
    /// page-aligned (the bytes before it on its page are mapped).
    ///
    /// # Safety
    /// As memmap2's constructors: the caller has checked the file holds
    /// `offset + len` bytes, and upholds the mapping contract (another
    /// handle changing or cutting the file while mapped).
    pub(crate) unsafe fn map(file: impl AsFd, offset: u64, len: usize, access: Access, room: usize) -> io::Result<Self> {
        let page = page();
        let lead = (offset % page as u64) as usize;
        let file_offset = offset - lead as u64;
        let mapped = lead.checked_add(len).and_then(|n| n.checked_next_multiple_of(page)).ok_or_else(too_large)?;
        if mapped == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a mapping of no bytes"));
        }
        let room = if access == Access::Private { 0 } else { room.next_multiple_of(page) };
        let reserve = |n: usize| reserve_congruent(n, file_offset);
        let (base, reserved) = match mapped.checked_add(room).filter(|_| room > 0) {
            Some(n) => match reserve(n) {
                Ok(p) => (p, n),
                Err(_) => (reserve(mapped)?, mapped),
            },
            None => (reserve(mapped)?, mapped),
        };
        let base = NonNull::new(base).ok_or_else(|| io::Error::other("mmap returned a null address"))?;
        let region = Self { base, reserved, mapped, lead, len, file_offset, access };
        // SAFETY: [base, base + mapped) is the start of the reservation just
        // made, which nothing else uses: MAP_FIXED replaces only it. The
        // file's bytes are the caller's contract (above).
        unsafe { mm::mmap(base.as_ptr(), mapped, access.prot(), access.flags() | MapFlags::FIXED, file, file_offset) }?;
        Ok(region)
    }

    /// The data's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: [base + lead, + len) is mapped (readable) while `self`
        // lives; the borrow of `self` bounds the slice's.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().cast::<u8>().add(self.lead), self.len) }
    }

    /// The data's bytes, writable; `None` for a read-only region.
    pub(crate) fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        (self.access != Access::ReadOnly).then(|| {
            // SAFETY: as in `bytes`, mapped writable; `&mut self` makes
            // the slice the only one.
            unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().cast::<u8>().add(self.lead), self.len) }
        })
    }

    /// Whether writes reach the file.
    pub(crate) fn is_shared(&self) -> bool {
        self.access == Access::Shared
    }

    /// Grows (or shrinks) the data to `len` bytes in place, mapping the
    /// file's pages after the current ones over the reservation (shrinking
    /// gives the pages past the new length back to it). `Ok(false)`, with
    /// nothing changed, if the reservation is too small. `file` must be the
    /// file mapped, holding `offset + len` bytes.
    ///
    /// # Safety
    /// As [`map`](Self::map), for the file's longer range; and when
    /// shrinking, no pointer into the pages past the new length is used
    /// again (they become inaccessible).
    pub(crate) unsafe fn resize(&mut self, file: impl AsFd, len: usize) -> io::Result<bool> {
        let want = self.lead.checked_add(len).and_then(|n| n.checked_next_multiple_of(page())).ok_or_else(too_large)?;
        if want > self.reserved || want == 0 {
            return Ok(false);
        }
        let at = |n: usize| self.base.as_ptr().cast::<u8>().wrapping_add(n).cast::<c_void>();
        if want > self.mapped {
            let from = self.file_offset + self.mapped as u64;
            // SAFETY: [mapped, want) lies in the reservation past the
            // mapping, which only this Region owns: MAP_FIXED replaces those
            // reserved pages and nothing else, atomically.
            unsafe { mm::mmap(at(self.mapped), want - self.mapped, self.access.prot(), self.access.flags() | MapFlags::FIXED, file, from) }?;
        } else if want < self.mapped {
            // SAFETY: [want, mapped) is this Region's own mapping; the caller
            // promises no pointer into it is used again. It becomes reserved
            // (inaccessible) address space again.
            unsafe {
                mm::mmap_anonymous(at(want), self.mapped - want, ProtFlags::empty(), MapFlags::PRIVATE | MapFlags::NORESERVE | MapFlags::FIXED)
            }?;
        }
        self.mapped = want;
        self.len = len;
        Ok(true)
    }

    /// The page-aligned start and length covering `len` bytes at `offset`
    /// into the data (which the caller checked to be inside it).
    fn pages(&self, offset: usize, len: usize) -> (*mut c_void, usize) {
        let start = self.lead + offset;
        let aligned = start - start % page();
        (self.base.as_ptr().cast::<u8>().wrapping_add(aligned).cast(), len + (start - aligned))
    }

    /// Writes modified pages among `len` bytes at `offset` into the data
    /// back to the file (`msync`), waiting for the write unless `sync` is
    /// false. A no-op for regions whose writes do not reach the file.
    pub(crate) fn flush_range(&self, offset: usize, len: usize, sync: bool) -> io::Result<()> {
        if !self.is_shared() || len == 0 {
            return Ok(());
        }
        let (addr, n) = self.pages(offset, len);
        let how = if sync { MsyncFlags::SYNC } else { MsyncFlags::ASYNC };
        // SAFETY: the range lies inside the mapping; msync does not change it.
        Ok(unsafe { mm::msync(addr, n, how) }?)
    }

    /// `madvise` of the pages holding `len` bytes at `offset` into the data.
    pub(crate) fn advise_range(&self, advice: mm::Advice, offset: usize, len: usize) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        let (addr, n) = self.pages(offset, len);
        // SAFETY: the range lies inside the mapping; the advice values given
        // (normal, sequential, random, willneed) do not change its contents.
        Ok(unsafe { mm::madvise(addr, n, advice) }?)
    }

    /// Bytes of address space held (mapped plus reserved).
    #[cfg(test)]
    pub(crate) fn reserved(&self) -> usize {
        self.reserved
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: [base, base + reserved) is this Region's own address
        // space; the borrows of its bytes ended with `self`'s.
        let _ = unsafe { mm::munmap(self.base.as_ptr(), self.reserved) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_of(n: usize) -> (tempfile::NamedTempFile, Vec<u8>) {
        let data: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&data).unwrap();
        (f, data)
    }

    #[test]
    fn grows_in_place_across_pages_and_shrinks_back() {
        let (mut f, mut data) = file_of(10_000);
        // SAFETY: the file is private to this test and long enough.
        let mut r = unsafe { Region::map(f.as_file(), 100, 5000, Access::Shared, 1 << 20) }.unwrap();
        let at = r.bytes().as_ptr();
        assert_eq!(r.bytes(), &data[100..5100]);
        let more: Vec<u8> = (0..200_000).map(|i| (i % 13) as u8).collect();
        f.write_all(&more).unwrap();
        data.extend_from_slice(&more);
        for len in [5001, 9000, 9900, 150_000, 209_900] {
            // SAFETY: as above.
            assert!(unsafe { r.resize(f.as_file(), len) }.unwrap());
            assert_eq!(r.bytes().as_ptr(), at, "moved");
            assert_eq!(r.bytes(), &data[100..100 + len]);
        }
        r.bytes_mut().unwrap()[209_899] = 255;
        r.flush_range(209_899, 1, true).unwrap();
        assert_eq!(std::fs::read(f.path()).unwrap()[209_999], 255);
        // SAFETY: no pointer into the cut pages is used.
        assert!(unsafe { r.resize(f.as_file(), 10) }.unwrap());
        assert_eq!(r.bytes(), &data[100..110]);
        // past the reservation: refused, unchanged
        // SAFETY: as above.
        assert!(!unsafe { r.resize(f.as_file(), 2 << 20) }.unwrap());
        assert_eq!(r.bytes(), &data[100..110]);
        assert!(r.reserved() >= (1 << 20));
    }

    #[test]
    fn mappings_are_placed_as_the_kernel_places_file_mappings() {
        // (congruent to the file offset modulo a PMD, so large page-cache
        // folios map whole: without it a cold in-place pass ran 7x slower)
        let (f, _) = file_of(3 << 20);
        for offset in [0u64, 4096, 100, 3 * 4096 + 5, (1 << 20) + 128] {
            // SAFETY: as above.
            let r = unsafe { Region::map(f.as_file(), offset, 1 << 20, Access::ReadOnly, 1 << 22) }.unwrap();
            let at = r.bytes().as_ptr() as usize;
            assert_eq!(at % huge_alignment(), (offset % huge_alignment() as u64) as usize, "offset {offset}");
        }
    }

    #[test]
    fn read_only_and_private_regions() {
        let (f, data) = file_of(5000);
        // SAFETY: as above.
        let mut r = unsafe { Region::map(f.as_file(), 0, 5000, Access::ReadOnly, 0) }.unwrap();
        assert!(r.bytes_mut().is_none());
        assert_eq!(r.bytes(), &data[..]);
        r.advise_range(mm::Advice::WillNeed, 10, 4000).unwrap();
        // SAFETY: as above.
        let mut p = unsafe { Region::map(f.as_file(), 0, 5000, Access::Private, 1 << 20) }.unwrap();
        assert_eq!(p.reserved(), 5000usize.next_multiple_of(page())); // (no room for a private one)
        p.bytes_mut().unwrap()[0] = 99;
        p.flush_range(0, 1, true).unwrap();
        assert_eq!(std::fs::read(f.path()).unwrap()[0], data[0]);
        // SAFETY: as above.
        assert!(unsafe { Region::map(f.as_file(), 4096, 0, Access::ReadOnly, 0) }.is_err());
    }
}
