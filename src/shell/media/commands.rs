//! What an engine thread does with each [`Command`] from the handle: calls and legs come and
//! go (sockets into and out of the loop's watch, ports back to the shared allocator), SDP
//! results, bridges, conferences, prompts, DTMF, recordings, and legs moving between calls.
//! A command that fails is logged and reported as [`MediaEvent::CommandFailed`]; nobody
//! waits for it.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::engine::{
    drain, new_log, token, CallState, Engine, LegSlot, Recording, PROMPT_TRACK, RECORD_BATCH,
};
use super::handle::{BoundLeg, Command, MovingLeg};
use super::types::{
    EngineStats, MediaCall, MediaError, MediaEvent, MediaLeg, PartyRole, RecordingSpec, RemoteMedia,
};
use crate::media::dtmf_send::DtmfSender;
use crate::media::prompt::Player;
use crate::media::record::Side;
use crate::media::relay::{LegConfig, LegId, LegStats, Relay, RelayConfig, RelayError, Role};
use crate::shell::recorder::recording_path;

/// Seconds between 1900 (NTP era) and 1970 (Unix).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
/// Tone and pause of each digit `send_dtmf` sends.
const DTMF_TONE_MS: u32 = 100;
const DTMF_GAP_MS: u32 = 60;

fn ntp_now() -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let frac = ((d.subsec_nanos() as u64) << 32) / 1_000_000_000;
    ((d.as_secs() + NTP_UNIX_OFFSET) << 32) | frac
}

fn leg_config(r: &RemoteMedia) -> LegConfig {
    LegConfig {
        law: r.law,
        audio_pt: r.audio_pt,
        dtmf_pt: r.dtmf_pt,
        remote_rtp: r.rtp,
        remote_rtcp: r.rtcp,
        on_hold: r.on_hold,
    }
}

impl Engine {
    fn fail(&self, command: &'static str, error: MediaError) {
        tracing::warn!(command, %error, "media command failed");
        let _ = self
            .events
            .send(MediaEvent::CommandFailed { command, error });
    }

    fn report(&self, command: &'static str, res: Result<(), MediaError>) {
        if let Err(e) = res {
            self.fail(command, e);
        }
    }

    pub(super) fn command(&mut self, cmd: Command, now: Instant) {
        match cmd {
            Command::NewCall(id) => {
                let cfg = RelayConfig {
                    dead_media_after: self.settings.dead_media_after,
                    ntp_at_start: ntp_now(),
                    rtcp_randomised: true,
                    ..RelayConfig::default()
                };
                self.calls.insert(
                    id,
                    CallState {
                        relay: Relay::new(cfg, now),
                        legs: Vec::new(),
                        wake_at: None,
                        players: Vec::new(),
                        dtmf: Vec::new(),
                        rec: None,
                    },
                );
            }
            Command::OpenLeg(call, leg, sockets) => {
                let res = self.add_leg(call, leg, sockets, None, now);
                self.report("open_leg", res);
            }
            Command::SetRemote(leg, remote) => {
                let res = self.with_leg(leg, |c, slot| {
                    let cfg = leg_config(&remote);
                    if slot.in_relay {
                        let _ = c.relay.update_leg(now, LegId(leg.0), cfg);
                        // A new address lets any source in at once: so must the socket.
                        let only = c.relay.exclusive_source(LegId(leg.0), now);
                        slot.filter.follow(&slot.rtp, only);
                    } else {
                        c.relay.add_leg(now, LegId(leg.0), cfg);
                        slot.in_relay = true;
                    }
                    Ok(())
                });
                self.after(leg.0);
                self.report("set_remote", res);
            }
            Command::Bridge(a, b, rec) => {
                let res = self.same_call(&[a, b]).and_then(|call| {
                    let c = self.calls.get_mut(&call).ok_or(MediaError::UnknownLeg(a))?;
                    c.relay
                        .connect(LegId(a.0), LegId(b.0))
                        .map_err(|_| MediaError::UnknownLeg(a))?;
                    self.start_recording(call, rec, now);
                    Ok(())
                });
                self.report("bridge", res);
            }
            Command::Conference(legs, rec) => {
                let res = self.same_call(&legs).and_then(|call| {
                    let c = self
                        .calls
                        .get_mut(&call)
                        .ok_or(MediaError::UnknownLeg(legs[0]))?;
                    let ids: Vec<LegId> = legs.iter().map(|l| LegId(l.0)).collect();
                    c.relay
                        .conference(now, &ids)
                        .map_err(|_| MediaError::UnknownLeg(legs[0]))?;
                    self.start_recording(call, rec, now);
                    self.after_call(call);
                    Ok(())
                });
                self.report("conference", res);
            }
            Command::SetRoles(parties, rec) => {
                let legs: Vec<MediaLeg> = parties.iter().map(|p| p.0).collect();
                let res = self.same_call(&legs).and_then(|call| {
                    let c = self
                        .calls
                        .get_mut(&call)
                        .ok_or(MediaError::UnknownLeg(legs[0]))?;
                    let roles: Vec<(LegId, Role<LegId>)> = parties
                        .iter()
                        .map(|&(l, r)| {
                            let r = match r {
                                PartyRole::Full => Role::Full,
                                PartyRole::Listen => Role::Listen,
                                PartyRole::Whisper(t) => Role::Whisper(LegId(t.0)),
                            };
                            (LegId(l.0), r)
                        })
                        .collect();
                    c.relay.set_roles(now, &roles).map_err(|e| match e {
                        RelayError::WhisperTarget(t) => MediaError::WhisperTarget(MediaLeg(t.0)),
                        RelayError::UnknownLeg(l) => MediaError::UnknownLeg(MediaLeg(l.0)),
                        _ => MediaError::UnknownLeg(legs[0]),
                    })?;
                    self.start_recording(call, rec, now);
                    self.after_call(call);
                    Ok(())
                });
                self.report("set_roles", res);
            }
            Command::Unbridge(leg) => {
                let res = self.with_relay_leg(leg, |c| {
                    let _ = c.relay.isolate(LegId(leg.0));
                });
                self.report("unbridge", res);
            }
            Command::Hold(leg, hold) => {
                let res = self.with_relay_leg(leg, |c| {
                    let _ = c.relay.set_hold(now, LegId(leg.0), hold);
                });
                self.after(leg.0);
                self.report(if hold { "hold" } else { "unhold" }, res);
            }
            Command::Play(leg, prompts, looping) => {
                let res = self.with_leg(leg, |c, _| {
                    c.players.retain(|(l, _)| *l != leg.0);
                    let mut p = Player::new(prompts, looping);
                    p.start(now);
                    c.players.push((leg.0, p));
                    Ok(())
                });
                self.report("play", res);
            }
            Command::StopPlay(leg) => {
                let res = self.with_leg(leg, |c, _| {
                    c.players.retain(|(l, _)| *l != leg.0);
                    Ok(())
                });
                self.report("stop_play", res);
            }
            Command::SendDtmf(leg, digits) => {
                let res = self.with_relay_leg_checked(leg, |c| {
                    let dtmf_pt = c.relay.dtmf_pt(LegId(leg.0));
                    if dtmf_pt.is_none() {
                        return Err(MediaError::NoDtmf(leg));
                    }
                    let s = DtmfSender::new(now, &digits, DTMF_TONE_MS, DTMF_GAP_MS)
                        .map_err(|_| MediaError::BadDigit(digits.chars().next().unwrap_or(' ')))?;
                    match c.dtmf.iter_mut().find(|(l, _)| *l == leg.0) {
                        Some((_, q)) => q.extend(s),
                        None => c.dtmf.push((leg.0, s)),
                    }
                    Ok(())
                });
                self.report("send_dtmf", res);
            }
            Command::StopRecording(call) => {
                let res = if self.calls.contains_key(&call.0) {
                    self.finish_recording(call.0, now);
                    Ok(())
                } else {
                    Err(MediaError::UnknownCall(call))
                };
                self.report("stop_recording", res);
            }
            Command::CloseLeg(leg, reply) => {
                let res = self.close_leg(leg.0);
                match reply {
                    Some(r) => {
                        let _ = r.send(res);
                    }
                    None => self.report("close_leg", res.map(|_| ())),
                }
            }
            Command::EndCall(call) => {
                let res = if self.calls.contains_key(&call.0) {
                    self.end_call(call.0, now);
                    Ok(())
                } else {
                    Err(MediaError::UnknownCall(call))
                };
                self.report("end_call", res);
            }
            Command::MoveLeg(leg, to) => {
                let res = if self.calls.contains_key(&to.0) {
                    self.take_leg(leg, now)
                        .and_then(|m| self.add_leg(to, leg, m.sockets, m.relay, now))
                } else {
                    Err(MediaError::UnknownCall(to))
                };
                self.report("move_leg", res);
            }
            Command::TakeLeg(leg, r) => {
                let _ = r.send(self.take_leg(leg, now));
            }
            Command::AdoptLeg(call, leg, m) => {
                let res = self.add_leg(call, leg, m.sockets, m.relay, now);
                self.report("move_leg", res);
            }
            Command::LegStats(leg, r) => {
                let res = self.with_leg(leg, |c, _| {
                    Ok((
                        c.relay.stats(LegId(leg.0)).unwrap_or_default(),
                        c.relay.latched(LegId(leg.0)),
                    ))
                });
                let _ = r.send(res);
            }
            Command::Stats(r) => {
                let _ = r.send(Ok(self.snapshot()));
            }
            Command::Shutdown => {}
        }
    }

    fn snapshot(&mut self) -> EngineStats {
        let mut s = self.stats;
        s.calls = self.calls.len();
        s.legs = self.legs.len();
        s.recorder_dropped = self.recorder.dropped();
        s.io_uring_threads = usize::from(matches!(self.io, super::io::Io::Uring(_)));
        s.lost = self
            .calls
            .values()
            .flat_map(|c| c.legs.iter().filter_map(|&l| c.relay.stats(LegId(l))))
            .map(|st| st.lost)
            .sum();
        // The longest sweep and the holding times are reported once, then measured afresh.
        self.stats.longest_sweep_us = 0;
        self.stats.held = Default::default();
        s
    }

    /// Puts a leg's sockets (and, when it moves, its relay state) into `call`. On failure
    /// the sockets close and the port goes back.
    fn add_leg(
        &mut self,
        call: MediaCall,
        leg: MediaLeg,
        sockets: BoundLeg,
        relay: Option<crate::media::relay::DetachedLeg>,
        now: Instant,
    ) -> Result<(), MediaError> {
        let release = |e: &mut Engine, port: u16| {
            super::handle::release_port(&e.ports, port);
        };
        if !self.calls.contains_key(&call.0) {
            release(self, sockets.port);
            return Err(MediaError::UnknownCall(call));
        }
        let bind = |e: std::io::Error| MediaError::Bind {
            addr: sockets.rtp.local_addr().unwrap_or(([0, 0, 0, 0], 0).into()),
            reason: e.to_string(),
        };
        let added = self
            .io
            .watch(&sockets.rtp, token(leg.0, false))
            .and_then(|_| self.io.watch(&sockets.rtcp, token(leg.0, true)));
        if let Err(e) = added {
            let err = bind(e);
            self.io.unwatch(&sockets.rtp, token(leg.0, false));
            self.io.unwatch(&sockets.rtcp, token(leg.0, true));
            release(self, sockets.port);
            return Err(err);
        }
        let in_relay = relay.is_some();
        if let Some(c) = self.calls.get_mut(&call.0) {
            c.legs.push(leg.0);
            if let Some(d) = relay {
                c.relay.attach_leg(now, d);
            }
        }
        self.legs.insert(
            leg.0,
            LegSlot {
                call: call.0,
                rtp: sockets.rtp,
                rtcp: sockets.rtcp,
                port: sockets.port,
                filter: sockets.filter,
                in_relay,
            },
        );
        self.after_call(call.0);
        Ok(())
    }

    /// Takes a leg out of its call with its sockets and relay state (`move_leg`).
    fn take_leg(&mut self, leg: MediaLeg, now: Instant) -> Result<MovingLeg, MediaError> {
        let slot = self
            .legs
            .remove(&leg.0)
            .ok_or(MediaError::UnknownLeg(leg))?;
        self.io.unwatch(&slot.rtp, token(leg.0, false));
        self.io.unwatch(&slot.rtcp, token(leg.0, true));
        let mut relay = None;
        if let Some(c) = self.calls.get_mut(&slot.call) {
            if slot.in_relay {
                relay = c.relay.detach_leg(LegId(leg.0)).ok();
            }
            c.legs.retain(|&l| l != leg.0);
            c.players.retain(|(l, _)| *l != leg.0);
            c.dtmf.retain(|(l, _)| *l != leg.0);
            if let Some(r) = &mut c.rec {
                r.log.remove(now, LegId(leg.0));
                r.log.remove(now, LegId(leg.0 | PROMPT_TRACK));
            }
            drain(c, &self.legs, &mut self.io, &mut self.stats, &self.events);
        }
        Ok(MovingLeg {
            sockets: BoundLeg {
                rtp: slot.rtp,
                rtcp: slot.rtcp,
                port: slot.port,
                filter: slot.filter,
            },
            relay,
        })
    }

    pub(super) fn close_leg(&mut self, leg: u32) -> Result<LegStats, MediaError> {
        let slot = self
            .legs
            .remove(&leg)
            .ok_or(MediaError::UnknownLeg(MediaLeg(leg)))?;
        self.io.unwatch(&slot.rtp, token(leg, false));
        self.io.unwatch(&slot.rtcp, token(leg, true));
        drop((slot.rtp, slot.rtcp));
        super::handle::release_port(&self.ports, slot.port);
        let mut stats = LegStats::default();
        if let Some(c) = self.calls.get_mut(&slot.call) {
            stats = c.relay.stats(LegId(leg)).unwrap_or_default();
            c.relay.remove_leg(LegId(leg));
            c.legs.retain(|&l| l != leg);
            c.players.retain(|(l, _)| *l != leg);
            c.dtmf.retain(|(l, _)| *l != leg);
            drain(c, &self.legs, &mut self.io, &mut self.stats, &self.events);
        }
        Ok(stats)
    }

    pub(super) fn end_call(&mut self, call: u32, now: Instant) {
        let legs = self
            .calls
            .get(&call)
            .map(|c| c.legs.clone())
            .unwrap_or_default();
        for l in legs {
            let _ = self.close_leg(l);
        }
        self.finish_recording(call, now);
        self.calls.remove(&call);
    }

    fn start_recording(&mut self, call: u32, spec: Option<RecordingSpec>, now: Instant) {
        let (Some(spec), Some(c)) = (spec, self.calls.get_mut(&call)) else {
            return;
        };
        if c.rec.is_some() {
            return;
        }
        self.recorder
            .start(spec.id, spec.started, now, self.settings.recording_delay);
        let mut log = new_log();
        log.set_side(now, LegId(spec.caller.0), Side::Left);
        c.relay.set_record(true);
        // Calls answered in the same sweep hand their logs over in different sweeps.
        let share = (spec.id.as_u128() % 10) as u32 + 1;
        c.rec = Some(Recording {
            id: spec.id,
            started: spec.started,
            log,
            caller: spec.caller.0,
            prompt_ts: 0,
            hand_over_at: now + RECORD_BATCH * share / 10,
        });
    }

    fn finish_recording(&mut self, call: u32, now: Instant) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.relay.set_record(false);
        let Some(r) = c.rec.take() else {
            return;
        };
        let events = self.events.clone();
        let path = recording_path(&self.settings.recordings, r.started, r.id);
        let id = r.id;
        self.recorder
            .finish_then(id, r.log, now, move |res, duration| {
                let _ = events.send(MediaEvent::RecordingFinished {
                    call: MediaCall(call),
                    id,
                    path: res.as_ref().cloned().unwrap_or(path),
                    duration,
                    error: res.err().map(|e| e.to_string()),
                });
            });
    }

    fn same_call(&self, legs: &[MediaLeg]) -> Result<u32, MediaError> {
        let mut call = None;
        for &l in legs {
            let slot = self.legs.get(&l.0).ok_or(MediaError::UnknownLeg(l))?;
            if !slot.in_relay {
                return Err(MediaError::NoRemote(l));
            }
            match call {
                None => call = Some(slot.call),
                Some(c) if c != slot.call => {
                    return Err(MediaError::DifferentCalls(legs[0], l));
                }
                Some(_) => {}
            }
        }
        call.ok_or(MediaError::TooFewParties)
    }

    fn with_leg<T>(
        &mut self,
        leg: MediaLeg,
        f: impl FnOnce(&mut CallState, &mut LegSlot) -> Result<T, MediaError>,
    ) -> Result<T, MediaError> {
        let slot = self
            .legs
            .get_mut(&leg.0)
            .ok_or(MediaError::UnknownLeg(leg))?;
        let c = self
            .calls
            .get_mut(&slot.call)
            .ok_or(MediaError::UnknownLeg(leg))?;
        f(c, slot)
    }

    fn with_relay_leg(
        &mut self,
        leg: MediaLeg,
        f: impl FnOnce(&mut CallState),
    ) -> Result<(), MediaError> {
        self.with_relay_leg_checked(leg, |c| {
            f(c);
            Ok(())
        })
    }

    fn with_relay_leg_checked(
        &mut self,
        leg: MediaLeg,
        f: impl FnOnce(&mut CallState) -> Result<(), MediaError>,
    ) -> Result<(), MediaError> {
        self.with_leg(leg, |c, slot| {
            if !slot.in_relay {
                return Err(MediaError::NoRemote(leg));
            }
            f(c)
        })
    }

    /// Sends whatever a command made the leg's relay produce.
    fn after(&mut self, leg: u32) {
        if let Some(call) = self.legs.get(&leg).map(|s| s.call) {
            self.after_call(call);
        }
    }

    fn after_call(&mut self, call: u32) {
        if let Some(c) = self.calls.get_mut(&call) {
            drain(c, &self.legs, &mut self.io, &mut self.stats, &self.events);
        }
    }
}
