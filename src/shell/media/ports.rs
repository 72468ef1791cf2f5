//! The RTP port allocator: hands out the even ports of the configured range (RTP on the even
//! port, RTCP on the next), takes them back when a leg closes, and says so with a typed error
//! when none is left. Ports are reused oldest-released first, so a port just released is not
//! handed straight back while stray packets for its old leg may still arrive.

use std::collections::VecDeque;

use super::config::PortRange;

/// Free even ports of a range.
#[derive(Debug)]
pub struct PortAllocator {
    free: VecDeque<u16>,
    range: PortRange,
    in_use: usize,
}

impl PortAllocator {
    pub fn new(range: PortRange) -> Self {
        PortAllocator {
            free: range.rtp_ports().collect(),
            range,
            in_use: 0,
        }
    }

    /// The next free RTP port, or `None` when every port of the range is taken.
    pub fn allocate(&mut self) -> Option<u16> {
        let p = self.free.pop_front()?;
        self.in_use += 1;
        Some(p)
    }

    /// Gives a port back (ignores ports outside the range or not handed out).
    pub fn release(&mut self, port: u16) {
        let ours = port >= self.range.first && port < self.range.last && port % 2 == 0;
        if ours && self.in_use > 0 && !self.free.contains(&port) {
            self.free.push_back(port);
            self.in_use -= 1;
        }
    }

    pub fn in_use(&self) -> usize {
        self.in_use
    }

    pub fn available(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_even_ports_refuses_when_exhausted_and_reuses_released_ones() {
        let mut a = PortAllocator::new("20000-20005".parse().unwrap());
        assert_eq!(a.allocate(), Some(20000));
        assert_eq!(a.allocate(), Some(20002));
        assert_eq!(a.allocate(), Some(20004));
        assert_eq!(a.allocate(), None);
        assert_eq!(a.in_use(), 3);
        a.release(20002);
        a.release(20002);
        a.release(20003);
        a.release(40000);
        assert_eq!(a.available(), 1);
        assert_eq!(a.allocate(), Some(20002));
        assert_eq!(a.allocate(), None);
    }
}
