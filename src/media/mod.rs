//! The media engine: SDP offer/answer, RTP relay, G.711, prompts, DTMF, recording and mixing.
//! Sans-IO: packets and time come in, packets, file writes and events go out.
