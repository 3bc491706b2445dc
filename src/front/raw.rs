//! The raw ("netcat") port's adapter for the session core: bytes as they are, with a probe
//! whose answers reveal a telnet client (the wizard's wrong-port hint), filtered out by
//! [`RawFilter`].

use crate::front::telnet::RawFilter;
use crate::session::{Arrival, Input, Transport};

/// The raw port's transport.
#[derive(Debug)]
pub struct Raw {
    filter: RawFilter,
}

impl Raw {
    /// The adapter of a connection that arrived on the raw port.
    pub fn new(_arrival: &Arrival) -> Raw {
        Raw {
            filter: RawFilter::new(),
        }
    }
}

impl Transport for Raw {
    fn start(&mut self, _trace: bool, out: &mut Vec<u8>) {
        out.extend(self.filter.start());
    }

    fn receive(&mut self, bytes: &[u8], _out: &mut Vec<u8>, mut input: impl FnMut(Input<'_>)) {
        let mut data = Vec::new();
        self.filter.receive(bytes, &mut data);
        input(Input::Data(&data));
    }

    fn negotiations(&self) -> u32 {
        self.filter.negotiation_count()
    }

    fn frame(bytes: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(bytes);
    }
}
