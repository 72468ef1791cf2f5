//! The media engine: SDP offer/answer, RTP relay, G.711, prompts, DTMF, recording and mixing.
//! Sans-IO: packets and time come in, packets, recording frames and events go out. Nothing
//! here opens a socket or a file, reads a clock or spawns a task.

pub mod dtmf;
pub mod dtmf_send;
pub mod g711;
pub mod mixer;
pub mod playout;
pub mod prompt;
pub mod record;
pub mod record_log;
pub mod relay;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod stream;
pub mod tone;
