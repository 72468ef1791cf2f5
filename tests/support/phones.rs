//! Real softphones from Debian, headless, for the tests: baresip (MD5 digest, auto-answer,
//! `ctrl_tcp` control) and linphonec (SHA-256 digest). Each runs in its own temporary
//! directory and is killed on drop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{free_udp_port, sipp, sipp_scenario};

/// One baresip process with one account.
pub struct Baresip {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub sip_port: u16,
}

impl Baresip {
    /// Registers `user`/`password` at `registrar`; audio from `source` when given.
    pub fn start(
        registrar: SocketAddr,
        user: &str,
        password: &str,
        source: Option<&Path>,
    ) -> Baresip {
        let dir = tempfile::tempdir().expect("temporary directory");
        let sip_port = free_udp_port();
        let mut config = format!(
            "sip_listen 127.0.0.1:{sip_port}\nnet_interface 127.0.0.1\nrtp_ports 40000-49999\n\
             module_path /usr/lib/baresip/modules\nmodule g711.so\n\
             module_tmp account.so\nmodule_app menu.so\n"
        );
        if let Some(src) = source {
            config.push_str(&format!(
                "module aufile.so\nmodule aubridge.so\naudio_player aubridge,sink1\n\
                 audio_alert aubridge,sink2\naudio_source aufile,{}\nausrc_srate 8000\n\
                 auplay_srate 8000\nausrc_channels 1\nauplay_channels 1\n",
                src.display()
            ));
        }
        std::fs::write(dir.path().join("config"), config).expect("write baresip config");
        std::fs::write(
            dir.path().join("accounts"),
            format!(
                "<sip:{user}@{registrar}>;auth_pass={password};regint=300;answermode=auto;\
                 audio_codecs=PCMU,PCMA\n"
            ),
        )
        .expect("write baresip accounts");
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run baresip (install baresip)");
        Baresip {
            child,
            dir,
            sip_port,
        }
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        // SIGKILL: on SIGTERM baresip waits to un-REGISTER from a registrar that may be gone.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One linphonec process with one account, kept alive by an open stdin.
pub struct Linphonec {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub sip_port: u16,
}

impl Linphonec {
    pub fn start(registrar: SocketAddr, user: &str, password: &str, realm: &str) -> Linphonec {
        let dir = tempfile::tempdir().expect("temporary directory");
        let sip_port = free_udp_port();
        let rc = format!(
            "[sip]\nsip_port={sip_port}\nsip_tcp_port=-1\nsip_tls_port=-1\ndefault_proxy=0\n\
             [sound]\ncapture_dev_id=\nplayback_dev_id=\n\
             [proxy_0]\nreg_proxy=<sip:{registrar};transport=udp>\n\
             reg_identity=sip:{user}@{ip}\nreg_expires=300\nreg_sendregister=1\n\
             [auth_info_0]\nusername={user}\nuserid={user}\npasswd={password}\nrealm={realm}\n",
            ip = registrar.ip()
        );
        let rc_path: PathBuf = dir.path().join("linphonerc");
        std::fs::write(&rc_path, rc).expect("write linphonerc");
        std::fs::create_dir_all(dir.path().join(".local/share/linphone")).expect("linphone dir");
        let child = Command::new("linphonec")
            .arg("-c")
            .arg(&rc_path)
            .current_dir(dir.path())
            .env("HOME", dir.path())
            // linphonec quits at the end of its input; a pipe we never write keeps it running.
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run linphonec (install linphone-cli)");
        Linphonec {
            child,
            dir,
            sip_port,
        }
    }
}

impl Drop for Linphonec {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sipp agent phone: one process answers on `port`, another registers it there.
pub struct SippAgent {
    child: std::process::Child,
}

impl SippAgent {
    pub fn start(registrar: SocketAddr, user: &str, password: &str, scenario: &str) -> SippAgent {
        let port = free_udp_port();
        let media = free_udp_port();
        let child = Command::new("sipp")
            .arg(registrar.to_string())
            .arg("-sf")
            .arg(sipp_scenario(scenario))
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mp", &media.to_string(), "-m", "1", "-nostdin"])
            .args(["-timeout", "60s", "-timeout_error"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run sipp");
        let reg = sipp(
            registrar,
            &[
                "-sf",
                sipp_scenario("agent_register.xml").to_str().unwrap(),
                "-s",
                user,
                "-au",
                user,
                "-ap",
                password,
                "-key",
                "contact_port",
                &port.to_string(),
                "-m",
                "1",
            ],
        );
        assert!(
            reg.status.success(),
            "agent REGISTER: {}\n{}",
            reg.stdout,
            reg.stderr
        );
        SippAgent { child }
    }

    pub fn finish(self) -> std::process::Output {
        self.child.wait_with_output().expect("agent sipp")
    }
}
