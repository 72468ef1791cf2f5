//! Party roles in a call's mix: who hears whom in a conference, and a supervisor listening to
//! or whispering into a call ([`Role`]).
//!
//! The relay keeps each leg's role and re-plans every party's route after any change (roles
//! set, a party isolated, removed or moved out). The plan is as cheap as the roles allow:
//!
//! - two `Full` parties that nobody whispers to are forwarded to each other directly (no
//!   transcoding, no jitter buffer, untouched payloads), exactly as a bridge; listeners and
//!   whisperers beside them get a mix of the two decoded streams;
//! - otherwise every party that hears more than one source hears the mixer;
//! - a party that hears nobody is isolated (it is not sent mixed silence);
//! - a listener's audio is never decoded, and listeners' and whisperers' audio is never
//!   recorded (the recording holds what the caller hears).

use std::time::Duration;

use super::{LegId, Relay, RelayError, Role, Route};

impl Relay {
    /// Makes `parties` the whole set of the call's mix with these roles; legs that were
    /// parties before and are not named are isolated, named legs leave any bridge they were
    /// in. Calling it again switches roles live (listen → whisper → barge and back); jitter
    /// buffers and outgoing streams carry on. A whisper must target a `Full` party.
    pub fn set_roles(
        &mut self,
        now: std::time::Instant,
        parties: &[(LegId, Role<LegId>)],
    ) -> Result<(), RelayError> {
        self.now = self.now.max(now);
        for &(id, role) in parties {
            self.index(id)?;
            if let Role::Whisper(t) = role {
                if !parties.iter().any(|&(k, r)| k == t && r == Role::Full) {
                    return Err(RelayError::WhisperTarget(t));
                }
            }
        }
        for i in 0..self.legs.len() {
            let id = self.legs[i].id;
            let named = parties.iter().any(|&(k, _)| k == id);
            if self.legs[i].party.is_some() && !named {
                let l = &mut self.legs[i];
                l.party = None;
                l.route = Route::Isolated;
                l.mix_in = false;
                l.hears_mix = false;
                self.mixer.remove_party(id);
            }
        }
        for &(id, role) in parties {
            if self.leg_mut(id)?.party.is_none() {
                // Leaves a bridge with a leg outside the mix.
                self.isolate(id)?;
            }
            self.leg_mut(id)?.party = Some(role);
        }
        self.replan();
        Ok(())
    }

    /// Mixes the given legs as `Full` parties, added to any parties already mixed.
    pub fn conference(&mut self, now: std::time::Instant, ids: &[LegId]) -> Result<(), RelayError> {
        let mut parties: Vec<(LegId, Role<LegId>)> = self
            .legs
            .iter()
            .filter_map(|l| l.party.map(|r| (l.id, r)))
            .filter(|(id, _)| !ids.contains(id))
            .collect();
        parties.extend(ids.iter().map(|&id| (id, Role::Full)));
        self.set_roles(now, &parties)
    }

    /// The role of a leg in the mix, if it is a party.
    pub fn role(&self, id: LegId) -> Option<Role<LegId>> {
        self.legs.iter().find(|l| l.id == id).and_then(|l| l.party)
    }

    /// Whether a leg is forwarded directly to `peer` (no mixing on its way).
    pub fn forwards_to(&self, id: LegId, peer: LegId) -> bool {
        self.legs
            .iter()
            .any(|l| l.id == id && l.route == Route::Peer(peer))
    }

    /// Routes every party by its role (see the module docs).
    pub(super) fn replan(&mut self) {
        let parties: Vec<(LegId, Role<LegId>)> = self
            .legs
            .iter()
            .filter_map(|l| l.party.map(|r| (l.id, r)))
            .collect();
        // Who each party hears, as the mixer would compute it.
        let sources = |x: LegId, role: Role<LegId>| -> Vec<LegId> {
            parties
                .iter()
                .filter(|&&(y, r)| {
                    y != x
                        && match role {
                            Role::Full => r == Role::Full || r == Role::Whisper(x),
                            Role::Listen | Role::Whisper(_) => r == Role::Full,
                        }
                })
                .map(|&(y, _)| y)
                .collect()
        };
        // (party, hears the mix); a party hearing one full party is forwarded to directly
        // while that party's single forwarding slot is free.
        let mut plan: Vec<(LegId, bool)> = Vec::with_capacity(parties.len());
        let mut direct: Vec<(LegId, LegId)> = Vec::new();
        for &(x, role) in &parties {
            let from = sources(x, role);
            let one_full = match from.as_slice() {
                [y] if parties.contains(&(*y, Role::Full)) => Some(*y),
                _ => None,
            };
            match one_full {
                Some(y) if !direct.iter().any(|&(f, _)| f == y) => {
                    direct.push((y, x));
                    plan.push((x, false));
                }
                _ => plan.push((x, !from.is_empty())),
            }
        }
        let mixed: Vec<LegId> = plan.iter().filter(|p| p.1).map(|p| p.0).collect();
        let mut feeds: Vec<LegId> = Vec::new();
        for &(x, role) in &parties {
            if mixed.contains(&x) {
                feeds.extend(sources(x, role));
            }
        }
        for l in &mut self.legs {
            let Some(role) = l.party else { continue };
            l.route = match direct.iter().find(|&&(f, _)| f == l.id) {
                Some(&(_, to)) => Route::Peer(to),
                None => Route::Isolated,
            };
            l.hears_mix = mixed.contains(&l.id);
            l.mix_in = feeds.contains(&l.id);
            if l.mix_in || l.hears_mix {
                self.mixer.set_party(l.id, role, l.hears_mix);
            } else {
                self.mixer.remove_party(l.id);
            }
        }
        if mixed.is_empty() {
            self.next_mix = None;
        } else {
            self.next_mix
                .get_or_insert(self.now + Duration::from_millis(20));
        }
        self.timeout_due = true;
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Instant;

    use super::*;
    use crate::media::g711::{self, Law};
    use crate::media::relay::{Channel, LegConfig, Output, RelayConfig};
    use crate::media::rtp::{self, RtpHeader};
    use crate::media::tone::{SineGenerator, ToneDetector};

    const CALLER: LegId = LegId(1);
    const AGENT: LegId = LegId(2);
    const SUP: LegId = LegId(3);
    const LEGS: [LegId; 3] = [CALLER, AGENT, SUP];
    const TONES: [f64; 3] = [500.0, 1000.0, 1500.0];

    fn addr(k: usize) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], 4000 + 2 * k as u16))
    }

    /// Three phones (caller 500 Hz µ-law, agent 1 kHz A-law, supervisor 1.5 kHz µ-law)
    /// sending 20 ms packets to one relay, with a virtual clock.
    struct Call {
        r: Relay,
        t0: Instant,
        tick: u32,
        gens: Vec<SineGenerator>,
        /// What each phone heard in the last `run`.
        heard: [Vec<i16>; 3],
        /// Legs whose audio went to the recording in the last `run`.
        recorded: Vec<LegId>,
    }

    fn law(k: usize) -> Law {
        if k == 1 {
            Law::Alaw
        } else {
            Law::Ulaw
        }
    }

    impl Call {
        fn new() -> Call {
            let t0 = Instant::now();
            let cfg = RelayConfig {
                record: true,
                ..RelayConfig::default()
            };
            let mut r = Relay::new(cfg, t0);
            for (k, id) in LEGS.iter().enumerate() {
                let c = LegConfig {
                    law: law(k),
                    audio_pt: law(k).static_payload_type(),
                    dtmf_pt: None,
                    remote_rtp: Some(addr(k)),
                    remote_rtcp: None,
                    on_hold: false,
                };
                r.add_leg(t0, *id, c);
            }
            Call {
                r,
                t0,
                tick: 0,
                gens: TONES
                    .iter()
                    .map(|&f| SineGenerator::new(f, 8000, 6000))
                    .collect(),
                heard: Default::default(),
                recorded: Vec::new(),
            }
        }

        fn now(&self) -> Instant {
            self.t0 + Duration::from_millis(20 * self.tick as u64)
        }

        fn roles(&mut self, parties: &[(LegId, Role<LegId>)]) {
            let now = self.now();
            self.r.set_roles(now, parties).unwrap();
        }

        /// One second of all three talking.
        fn run(&mut self) {
            self.heard = Default::default();
            self.recorded.clear();
            let mut pcm = Vec::new();
            for _ in 0..50 {
                let now = self.now() + Duration::from_millis(3);
                for (k, &id) in LEGS.iter().enumerate() {
                    let mut b = Vec::new();
                    let ts = 1000 * k as u32 + 160 * self.tick;
                    rtp::write_header(
                        &mut b,
                        false,
                        law(k).static_payload_type(),
                        self.tick as u16,
                        ts,
                        9 + k as u32,
                    );
                    g711::encode_into(law(k), &self.gens[k].take(160), &mut b);
                    match self.r.handle_packet(now, id, addr(k), &b) {
                        Ok(()) | Err(RelayError::UnknownLeg(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                self.tick += 1;
                self.r.handle_timeout(self.now());
                while let Some(o) = self.r.poll_output() {
                    match o {
                        Output::Transmit(t) if t.channel == Channel::Rtp => {
                            let k = (t.leg.0 - 1) as usize;
                            let h = RtpHeader::parse(&t.bytes).unwrap();
                            g711::decode_into(law(k), h.payload(&t.bytes), &mut pcm);
                            self.heard[k].extend_from_slice(&pcm);
                        }
                        Output::Record(p) if !self.recorded.contains(&p.leg) => {
                            self.recorded.push(p.leg)
                        }
                        _ => {}
                    }
                }
            }
        }

        /// Whether phone `who` heard tone `k` in the second half of the last run.
        fn hears(&self, who: LegId, k: usize) -> bool {
            let h = &self.heard[(who.0 - 1) as usize];
            let mut d = ToneDetector::new(TONES[k]);
            d.min_snr_db = -6.0;
            h.len() >= 4000 && d.present(&h[h.len() - 4000..])
        }
    }

    #[test]
    fn a_listener_beside_a_plain_call_hears_both_and_the_call_stays_direct() {
        let mut c = Call::new();
        c.roles(&[
            (CALLER, Role::Full),
            (AGENT, Role::Full),
            (SUP, Role::Listen),
        ]);
        assert!(c.r.forwards_to(CALLER, AGENT) && c.r.forwards_to(AGENT, CALLER));
        c.run();
        assert!(
            c.hears(SUP, 0) && c.hears(SUP, 1),
            "the listener hears caller and agent"
        );
        assert!(c.hears(CALLER, 1) && !c.hears(CALLER, 2));
        assert!(c.hears(AGENT, 0) && !c.hears(AGENT, 2));
        assert_eq!(
            c.recorded,
            vec![CALLER, AGENT],
            "the listener is not recorded"
        );
    }

    #[test]
    fn roles_switch_live_from_listen_to_whisper_to_barge_and_back() {
        let mut c = Call::new();
        let with = |sup: Role<LegId>| [(CALLER, Role::Full), (AGENT, Role::Full), (SUP, sup)];
        c.roles(&with(Role::Listen));
        c.run();
        assert!(!c.hears(CALLER, 2) && !c.hears(AGENT, 2));

        c.roles(&with(Role::Whisper(AGENT)));
        assert!(!c.r.forwards_to(CALLER, AGENT), "the agent now hears a mix");
        assert!(
            c.r.forwards_to(AGENT, CALLER),
            "the caller still hears the agent directly"
        );
        c.run();
        assert!(
            c.hears(AGENT, 0) && c.hears(AGENT, 2),
            "the agent hears caller and coach"
        );
        assert!(
            c.hears(CALLER, 1) && !c.hears(CALLER, 2),
            "the caller never hears the coach"
        );
        assert!(c.hears(SUP, 0) && c.hears(SUP, 1) && !c.hears(SUP, 2));
        assert!(!c.recorded.contains(&SUP));

        c.roles(&with(Role::Full));
        c.run();
        assert!(
            c.hears(CALLER, 1) && c.hears(CALLER, 2),
            "barge: the caller hears both"
        );
        assert!(c.hears(AGENT, 0) && c.hears(AGENT, 2));
        assert!(c.hears(SUP, 0) && c.hears(SUP, 1));
        assert!(
            c.recorded.contains(&SUP),
            "a barging supervisor is recorded"
        );

        c.roles(&with(Role::Listen));
        assert!(c.r.forwards_to(CALLER, AGENT) && c.r.forwards_to(AGENT, CALLER));
        c.run();
        assert!(!c.hears(CALLER, 2) && !c.hears(AGENT, 2));
        assert!(c.hears(SUP, 0) && c.hears(SUP, 1));
    }

    #[test]
    fn the_supervisor_leaving_puts_the_call_back_on_direct_forwarding() {
        for sup in [Role::Listen, Role::Whisper(AGENT), Role::Full] {
            let mut c = Call::new();
            c.roles(&[(CALLER, Role::Full), (AGENT, Role::Full), (SUP, sup)]);
            c.run();
            c.r.remove_leg(SUP);
            assert!(c.r.forwards_to(CALLER, AGENT) && c.r.forwards_to(AGENT, CALLER));
            c.run();
            assert!(c.hears(CALLER, 1) && c.hears(AGENT, 0), "{sup:?}");
            assert_eq!(c.r.next_mix, None, "no mixing left after {sup:?}");
        }
    }

    #[test]
    fn all_full_is_a_conference_and_a_whisper_needs_a_full_target() {
        let mut c = Call::new();
        c.r.conference(c.now(), &LEGS).unwrap();
        assert!(LEGS.iter().all(|&l| c.r.role(l) == Some(Role::Full)));
        c.run();
        assert!(c.hears(CALLER, 1) && c.hears(CALLER, 2) && c.hears(SUP, 0));
        assert_eq!(
            c.r.set_roles(
                c.now(),
                &[(CALLER, Role::Full), (SUP, Role::Whisper(AGENT))]
            ),
            Err(RelayError::WhisperTarget(AGENT))
        );
        c.r.isolate(SUP).unwrap();
        assert!(c.r.forwards_to(CALLER, AGENT) && c.r.role(SUP).is_none());
    }
}
