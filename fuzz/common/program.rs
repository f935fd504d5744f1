//! The program a fuzz target reads its steps from (shared by the targets that
//! drive a core with a sequence of steps: `agent_core`, `shadow_core`).

/// A reader of the fuzzer's input, byte by byte; zeros once it runs out.
pub struct Program<'a>(pub &'a [u8]);

impl Program<'_> {
    pub fn byte(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }
    pub fn bytes(&mut self, n: usize) -> &[u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
}
