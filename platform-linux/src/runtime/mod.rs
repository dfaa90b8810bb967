//! A running node: the threads of DESIGN.md "Threads on Linux" for every
//! channel of a validated configuration, and the network loop between
//! them and the relay.
//!
//! ```text
//! capture-<ch>  device ─► ChannelCapture (VOX, Opus when wanted) ─► rtrb (every frame) ─┐
//! net           the node engine: gate + pre-roll, relay WebSocket + UDP ◄──────────────┘
//!                 └─► PacketsWanted (after every turn) ─► capture-<ch>
//!                 └─► rtrb ─► playback-<ch>  ChannelPlayback (jitter, Opus) ─► device
//! relay         (with "relay": "embedded") the relay server on loopback
//! main          signals, status lines, the network's events in the log,
//!               the service watchdog (`supervisor`: READY=1, WATCHDOG=1
//!               only while every thread above moves)
//! ```
//!
//! [`Node::start`] makes everything (devices opened, codecs and rings
//! allocated, threads started) or fails naming what could not start;
//! [`Node::run`] then waits for a stop signal and shuts down in order:
//! capture first (open talk-spurts end with an end-of-transmission), then
//! the network, then playback (files completed), then the relay.

pub mod capture;
pub mod playback;
pub mod recorder;
pub mod signals;
pub mod supervisor;
pub mod threads;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use echostream_core::audio::GateSource;
use echostream_core::jitter::{JitterConfig, MEDIA_RATE_HZ};
use echostream_core::wire::StreamId;
use echostream_relay::TokenPolicy;

use self::capture::{CaptureStats, ChannelCapture, Gate, Heard};
use self::playback::{ChannelPlayback, PlaybackStats};
use crate::audio::pipeline::{Depacketizer, EncodedFrame, PipelineError, frame_ring};
use crate::audio::{self, AudioError, AudioThread, Counters, RtSettings, StreamParams};
use crate::config::RecordingFormat;
use crate::config::refusal::{self, Refusal};
use crate::config::{Audio, Channel, Config, Cor, Relay};
use crate::events::{EventWriter, Events};
use crate::net::{
    EngineChannel, NetChannel, NetError, NetHandle, NetLoop, NetOutputs, NetSettings,
};
use crate::opus::{Encoder, EncoderConfig, OpusError};
use crate::recording::{Format, OpusSettings};
use crate::tone_plan::{self, Named};
use echostream_core::node::RadioConfig;
use echostream_core::record::RecordConfig;
use echostream_core::tone::ChannelDetector;
use echostream_core::tone::dtmf::{DtmfSequencer, SequenceConfig};

/// How often the node logs a status line per channel.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(30);

/// Why a node could not start. Each names the channel or part at fault.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A sound device could not be opened or a thread started.
    #[error("channels[{index}] `{channel}`: {source}")]
    Audio {
        /// The channel's index in the config.
        index: usize,
        /// The channel's id.
        channel: String,
        /// What failed.
        source: AudioError,
    },
    /// The VOX, codec, jitter buffer or output folder refused the settings.
    #[error("channels[{index}] `{channel}`: {source}")]
    Pipeline {
        /// The channel's index in the config.
        index: usize,
        /// The channel's id.
        channel: String,
        /// What was refused.
        source: ChannelSetupError,
    },
    /// A core state machine refused a config value, named as the file
    /// names it (`check-config` reports the same).
    #[error("{0}")]
    Refused(#[from] Refusal),
    /// A GPIO line could not be had (a missing chip, an unknown line, a
    /// line another process holds, no permission).
    #[error("channels[{index}] `{channel}`: {what}: {source}")]
    Gpio {
        /// The channel's index in the config.
        index: usize,
        /// The channel's id.
        channel: String,
        /// `COR` or `PTT`.
        what: &'static str,
        /// What failed, naming chip and line.
        source: crate::gpio::GpioError,
    },
    /// `gpio_backend` names no backend.
    #[error("gpio_backend: {0}")]
    GpioBackend(#[from] crate::gpio::UnknownBackend),
    /// The embedded relay could not start.
    #[error("embedded relay: {0}")]
    Relay(#[from] echostream_relay::server::ServerError),
    /// The network loop could not be made.
    #[error("network: {0}")]
    Net(#[from] NetError),
    /// The network thread could not be started.
    #[error("network thread: {0}")]
    NetThread(std::io::Error),
    /// The event file cannot be written.
    #[error("{0}")]
    Events(#[from] crate::events::EventsError),
    /// The outbox or a destination's thread.
    #[error("{0}")]
    Delivery(#[from] crate::delivery::DeliveryError),
    /// The alert command's thread.
    #[error("alert_command thread: {0}")]
    AlertCommandThread(std::io::Error),
    /// The recorder thread could not be started.
    #[error("recorder thread: {0}")]
    RecorderThread(std::io::Error),
}

/// What a channel's audio path refused.
#[derive(Debug, thiserror::Error)]
pub enum ChannelSetupError {
    /// The Opus encoder settings.
    #[error("Opus encoder: {0}")]
    Encoder(OpusError),
    /// The decoder settings, or the frame and period lengths.
    #[error("{0}")]
    Playback(PipelineError),
    /// The tone definitions or DTMF settings were refused (check-config
    /// reports the same).
    #[error("tones: {}", .0.iter().map(|(path, why)| format!("{path}: {why}")).collect::<Vec<_>>().join("; "))]
    Tones(Vec<(String, String)>),
    /// The folder of a `file:` output could not be made.
    #[error("output_device: cannot create folder `{}`: {source}", dir.display())]
    OutputFolder {
        /// The folder.
        dir: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Why a running node stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A playback thread ended although nothing asked it to.
    #[error("{thread} ended")]
    PlaybackEnded {
        /// The thread's name.
        thread: String,
    },
    /// An audio thread failed (a device that stopped working).
    #[error("{thread}: {source}")]
    AudioFailed {
        /// The thread's name.
        thread: String,
        /// What failed.
        source: AudioError,
    },
}

/// One channel's shared counters, for status lines.
#[derive(Debug)]
struct ChannelStatus {
    id: String,
    capture: Arc<CaptureStats>,
    playback: Option<Arc<PlaybackStats>>,
}

/// A running node. See the [module docs](self).
#[derive(Debug)]
pub struct Node {
    captures: Vec<AudioThread>,
    playbacks: Vec<AudioThread>,
    net: NetHandle,
    recorder: Option<recorder::Recorder>,
    journal: Option<Events>,
    journal_writer: Option<EventWriter>,
    delivery: Option<crate::delivery::Delivery>,
    relay: Option<echostream_relay::server::ServerHandle>,
    channels: Vec<ChannelStatus>,
    http: Option<echostream_relay::http::HttpServer>,
}

impl Node {
    /// Opens every device and starts every thread of `config`.
    ///
    /// # Errors
    ///
    /// The first part that could not start, named; whatever had started
    /// is stopped again.
    pub fn start(config: &Config) -> Result<Node, StartError> {
        // Every transmitter is driven unkeyed before anything else starts.
        let (mut radio_lines, radios) = open_radio_lines(config)?;
        // A panic anywhere from now on releases them first.
        crate::gpio::failsafe::arm(
            radio_lines
                .iter()
                .filter_map(|(ptt, _)| ptt.as_ref().map(crate::gpio::PttLine::release_handle))
                .collect(),
        );
        let mut delivery = crate::delivery::Delivery::open(config)?;
        let board = crate::status::Board::new();
        let mut sinks: Vec<Box<dyn crate::events::EventSink>> =
            vec![Box::new(crate::status::BoardSink(board.clone()))];
        if let Some((delivery, _)) = &delivery
            && let Some(sink) = delivery.event_sink()
        {
            sinks.push(sink);
        }
        if let Some(command) = &config.alert_command {
            let runner = crate::alert_command::AlertCommands::start(command)
                .map_err(StartError::AlertCommandThread)?;
            sinks.push(Box::new(runner));
        }
        let (journal, journal_writer) =
            Events::open_with(&config.node_id, &config.events_file, sinks)?;
        if let Some((delivery, report)) = &mut delivery {
            for line in crate::delivery::damage_lines(report) {
                log::error!("{line}");
                journal.emit(
                    "error",
                    None,
                    crate::fields! { "component" => "outbox", "message" => line },
                );
            }
            delivery.start(config, &journal)?;
        }
        let mut delivery = delivery.map(|(delivery, _)| delivery);
        let upload = delivery
            .as_ref()
            .and_then(crate::delivery::Delivery::upload_queue);
        // With a store, finished recordings wait in the spool until uploaded.
        let dir = if upload.is_some() {
            &config.recordings.spool_dir
        } else {
            &config.recordings.dir
        };
        recover_recordings(dir, &journal);
        if let (Some(delivery), Some(s3)) = (&mut delivery, &config.s3) {
            delivery.requeue_orphans(dir, s3, &config.node_id, &journal);
        }
        let (relay, net_settings) = relay_and_settings(config)?;
        let rate_hz = StreamParams::from_config(&config.audio).rate_hz;
        let mut net_channels = Vec::new();
        let mut pending = Vec::new();
        let mut recorded = Vec::new();
        for (index, ch) in config.channels.iter().enumerate() {
            let (to_net, outgoing) = frame_ring();
            let (incoming, from_net) = frame_ring();
            let detection = detector_for(config, index)?;
            let (tone_names, tones, detection) = match detection {
                Some((detector, names)) => {
                    let (producer, consumer) = capture::tone_ring();
                    (names, Some(consumer), Some((detector, producer)))
                }
                None => (Vec::new(), None, None),
            };
            let engine = engine_channel(config, index, &tone_names);
            let (preroll_frames, record) = (engine.preroll_frames, engine.record);
            let (pcm_in, pcm_out) = if record.is_some() {
                let (producer, consumer) = capture::pcm_ring();
                (Some(producer), Some(consumer))
            } else {
                (None, None)
            };
            recorded.push((ch.id.clone(), pcm_out));
            let wanted = Arc::new(capture::PacketsWanted::default());
            net_channels.push(NetChannel {
                id: ch.id.clone(),
                outgoing,
                incoming,
                preroll_frames,
                wanted: wanted.clone(),
                tones,
                tone_names,
                rate_hz,
                record,
                radio: radios[index],
                ptt: radio_lines[index].0.take(),
                cor: radio_lines[index].1.take(),
            });
            pending.push((
                index,
                to_net,
                from_net,
                (detection, pcm_in, wanted, preroll_frames),
            ));
        }
        let (commands, command_rx) = std::sync::mpsc::channel();
        let recorder = recorder::Recorder::spawn(
            recorder::RecorderSettings {
                dir: dir.clone(),
                format: match config.recordings.format {
                    RecordingFormat::Wav => Format::Wav,
                    RecordingFormat::Opus => Format::Opus,
                },
                opus: OpusSettings {
                    bitrate_bps: config.audio.opus.bitrate_bps,
                    complexity: config.audio.opus.complexity,
                },
                rate_hz,
                min_free_mb: config.recordings.min_free_mb,
                upload: upload
                    .zip(config.s3.clone())
                    .map(|(queue, s3)| recorder::Upload {
                        queue,
                        s3,
                        node_id: config.node_id.clone(),
                    }),
            },
            recorded,
            command_rx,
            journal.clone(),
        )
        .map_err(StartError::RecorderThread)?;
        let outputs = NetOutputs {
            journal: Some(journal.clone()),
            recorder: Some(commands),
        };
        let net = NetLoop::with_outputs(net_settings, net_channels, outputs)?;
        let waker = net.waker();

        let mut node = Node {
            captures: Vec::new(),
            playbacks: Vec::new(),
            net: net.spawn().map_err(StartError::NetThread)?,
            recorder: Some(recorder),
            journal: Some(journal),
            journal_writer: Some(journal_writer),
            delivery,
            relay,
            channels: Vec::new(),
            http: None,
        };
        if let Some(journal) = &node.journal {
            journal.emit(
                "node",
                None,
                crate::fields! { "state" => "start", "version" => env!("CARGO_PKG_VERSION") },
            );
        }
        for (index, to_net, from_net, detection) in pending {
            let started = node.start_channel(config, index, to_net, from_net, detection, &waker);
            if let Err(err) = started {
                node.stop_all();
                return Err(err);
            }
        }
        node.http = node.start_http(config, dir, board);
        Ok(node)
    }

    /// Starts the status endpoint. One that cannot listen (the port taken)
    /// is an error in the log and the events, and the node runs on: pages
    /// matter more than the page about them.
    fn start_http(
        &self,
        config: &Config,
        recordings_dir: &std::path::Path,
        board: Arc<crate::status::Board>,
    ) -> Option<echostream_relay::http::HttpServer> {
        let listen = config.http.listen.as_deref()?;
        let addr: SocketAddr = listen.parse().ok()?;
        let password = config
            .http
            .password
            .as_deref()
            .and_then(|p| echostream_relay::http::PasswordHash::parse(p).ok());
        let device = |threads: &[AudioThread], name: String| {
            threads
                .iter()
                .find(|t| t.name() == name)
                .map(|t| t.counters().clone())
        };
        let channels = self
            .channels
            .iter()
            .map(|ch| crate::status::ChannelSources {
                id: ch.id.clone(),
                capture: ch.capture.clone(),
                capture_device: device(&self.captures, format!("capture-{}", ch.id)),
                playback: ch.playback.clone(),
                playback_device: device(&self.playbacks, format!("playback-{}", ch.id)),
            })
            .collect();
        let sources = crate::status::Sources {
            node_id: config.node_id.clone(),
            relay: match &config.relay {
                Relay::Embedded => "embedded".to_owned(),
                Relay::Remote(remote) => remote.url.clone(),
            },
            started: Instant::now(),
            net: self.net.counters(),
            channels,
            outbox: self.delivery.as_ref().map(|d| d.outbox().clone()),
            recordings_dir: config.recordings.dir.clone(),
            spool_dir: config.s3.is_some().then(|| recordings_dir.to_owned()),
            board,
        };
        let handler: echostream_relay::http::Handler =
            Arc::new(move |request| sources.answer(request));
        match echostream_relay::http::HttpServer::start("http", addr, password, handler) {
            Ok(server) => {
                log::info!(
                    "status page on http://{}/ (also /status and /metrics)",
                    server.addr()
                );
                Some(server)
            }
            Err(error) => {
                let message = format!(
                    "status page: cannot listen on {addr}: {error}; the node runs without it \
                     (change http.listen, or set it to null)"
                );
                log::error!("{message}");
                if let Some(journal) = &self.journal {
                    journal.emit(
                        "error",
                        None,
                        crate::fields! { "component" => "http", "message" => message },
                    );
                }
                None
            }
        }
    }

    /// Starts channel `index`'s capture thread and, when it has an output,
    /// its playback thread. On an error, what it started is in `self` for
    /// the caller to stop.
    fn start_channel(
        &mut self,
        config: &Config,
        index: usize,
        to_net: rtrb::Producer<EncodedFrame>,
        from_net: rtrb::Consumer<EncodedFrame>,
        (detection, pcm, wanted, preroll_frames): ChannelTaps,
        waker: &Arc<mio::Waker>,
    ) -> Result<(), StartError> {
        let ch = &config.channels[index];
        let params = StreamParams::from_config(&config.audio);
        let rt = RtSettings::from_config(&config.audio);
        let audio_err = |source| StartError::Audio {
            index,
            channel: ch.id.clone(),
            source,
        };
        let pipeline_err = |source: ChannelSetupError| StartError::Pipeline {
            index,
            channel: ch.id.clone(),
            source,
        };
        let source = match &ch.cor {
            Cor::Always => GateSource::Always,
            Cor::Vox(vox) => GateSource::Vox {
                threshold_dbfs: vox.threshold_dbfs as f32,
            },
            Cor::Gpio(_) => GateSource::CorLine,
        };
        let gate = Gate::new(source, params.rate_hz, &ch.timers.core()).map_err(|err| {
            let threshold_dbfs = match &ch.cor {
                Cor::Vox(vox) => vox.threshold_dbfs,
                Cor::Gpio(_) | Cor::Always => f64::NAN,
            };
            refusal::vox(index, threshold_dbfs, err)
        })?;
        let encoder = EncoderConfig::from_audio(&config.audio)
            .and_then(Encoder::new)
            .map_err(|err| pipeline_err(ChannelSetupError::Encoder(err)))?;
        let mut capture =
            ChannelCapture::new(gate, encoder, to_net, waker.clone(), wanted, preroll_frames);
        if let Some(((detector, sequencer), events)) = detection {
            capture = capture.with_detector(detector, sequencer, events);
        }
        if let Some(pcm) = pcm {
            capture = capture.with_recorder(pcm);
        }
        let capture_stats = capture.stats();
        let source =
            audio::open_source(&ch.input_device, params, ch.input_loop).map_err(audio_err)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = threads::spawn_capture(&ch.id, source, capture, stop, Counters::new(), rt)
            .map_err(audio_err)?;
        self.captures.push(thread);

        let mut playback_stats = None;
        if let Some(output) = &ch.output_device {
            let depacketizer = Depacketizer::new(
                jitter_config(config),
                params.rate_hz,
                params.period_frames,
                StreamId(0),
            )
            .map_err(|err| match err {
                PipelineError::Jitter(err) => StartError::from(refusal::jitter(&config.audio, err)),
                err => pipeline_err(ChannelSetupError::Playback(err)),
            })?;
            let playback = ChannelPlayback::new(from_net, depacketizer);
            playback_stats = Some(playback.stats());
            create_parent_dir(output).map_err(pipeline_err)?;
            let sink = audio::open_sink(output, params).map_err(audio_err)?;
            let stop = Arc::new(AtomicBool::new(false));
            let thread = threads::spawn_playback(&ch.id, sink, playback, stop, Counters::new(), rt)
                .map_err(audio_err)?;
            self.playbacks.push(thread);
        }
        self.channels.push(ChannelStatus {
            id: ch.id.clone(),
            capture: capture_stats,
            playback: playback_stats,
        });
        log::info!(
            "channel {} started: input {} output {} cor {}",
            ch.id,
            ch.input_device,
            ch.output_device.as_deref().unwrap_or("none"),
            ch.cor
        );
        Ok(())
    }

    /// Runs until `stop` returns true (checked every 100 ms), taking the
    /// network's events (the network thread logs them), logging a status
    /// line per channel every [`STATUS_INTERVAL`] and telling a service
    /// manager (`NOTIFY_SOCKET`) that the node is ready and, while every
    /// audio and network thread moves, alive; then shuts down in order.
    ///
    /// # Errors
    ///
    /// A thread that failed (a device that stopped working), named.
    pub fn run(mut self, stop: impl Fn() -> bool) -> Result<(), RunError> {
        let mut next_status = Instant::now() + STATUS_INTERVAL;
        let mut failure = None;
        let mut supervisor = self.supervisor();
        supervisor.tick();
        // Tests of the fail-safe make a debug build panic mid-run.
        #[cfg(debug_assertions)]
        let panic_at = std::env::var("ECHOSTREAM_TEST_PANIC_AFTER_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        while !stop() {
            std::thread::sleep(Duration::from_millis(100));
            #[cfg(debug_assertions)]
            if panic_at.is_some_and(|at| Instant::now() >= at) {
                panic!("ECHOSTREAM_TEST_PANIC_AFTER_MS: a panic for the fail-safe test");
            }
            while self.net.events().try_recv().is_ok() {}
            supervisor.tick();
            if Instant::now() >= next_status {
                next_status += STATUS_INTERVAL;
                self.log_status();
            }
            if let Some(i) = self.playbacks.iter().position(AudioThread::is_finished) {
                let thread = self.playbacks.swap_remove(i);
                let thread_name = thread.name().to_owned();
                failure = Some(match thread.join() {
                    Ok(()) => RunError::PlaybackEnded {
                        thread: thread_name,
                    },
                    Err(source) => RunError::AudioFailed {
                        thread: thread_name,
                        source,
                    },
                });
                break;
            }
            if let Some(i) = self.captures.iter().position(AudioThread::is_finished) {
                let thread = self.captures.swap_remove(i);
                let name = thread.name().to_owned();
                match thread.join() {
                    // A `file:` input without `input_loop` ends; the
                    // channel goes quiet, the node goes on.
                    Ok(()) => {
                        log::info!("{name}: input ended; the channel stays quiet");
                        supervisor.retire(&name);
                    }
                    Err(source) => {
                        failure = Some(RunError::AudioFailed {
                            thread: name,
                            source,
                        });
                        break;
                    }
                }
            }
        }
        log::info!("stopping");
        // Before the events thread is joined: the supervisor holds a clone.
        supervisor.stopping();
        self.log_status();
        self.stop_all();
        match failure {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }

    /// The service watchdog over every audio thread and the network
    /// thread.
    fn supervisor(&self) -> supervisor::Supervisor {
        let audio = self.captures.iter().chain(&self.playbacks);
        let mut threads: Vec<supervisor::Watched> = audio
            .map(|thread| supervisor::Watched {
                name: thread.name().to_owned(),
                progress: supervisor::Progress::Audio(thread.counters().clone()),
            })
            .collect();
        threads.push(supervisor::Watched {
            name: "net".to_owned(),
            progress: supervisor::Progress::Net(self.net.counters()),
        });
        supervisor::Supervisor::from_env(threads, self.channels.len(), self.journal.clone())
    }

    fn log_status(&self) {
        let counters = self.net.counters();
        let net = counters.snapshot();
        log::info!("status net {net}");
        for p in counters.passthroughs() {
            let left = p.ends.saturating_duration_since(Instant::now());
            log::info!(
                "status passthrough {} -> {} remaining_s={:.1}",
                p.source,
                p.target,
                left.as_secs_f64()
            );
        }
        if let Some(journal) = &self.journal {
            log::info!(
                "status events written={} dropped={} failed={}",
                journal.written(),
                journal.dropped(),
                journal.failed()
            );
        }
        for ch in &self.channels {
            let c = &ch.capture;
            let mut line = format!(
                "status channel={} frames={} vox_openings={} net_ring_full={} encode_errors={} \
                 detections={} detections_dropped={} recorder_ring_full={}",
                ch.id,
                c.frames.load(Ordering::Relaxed),
                c.vox_openings.load(Ordering::Relaxed),
                c.net_ring_full.load(Ordering::Relaxed),
                c.encode_errors.load(Ordering::Relaxed),
                c.tone_events.load(Ordering::Relaxed),
                c.tone_events_dropped.load(Ordering::Relaxed),
                c.recorder_ring_full.load(Ordering::Relaxed),
            );
            if let Some(p) = &ch.playback {
                line.push_str(&format!(
                    " decoded={} fec={} concealed={} refused={}",
                    p.decoded.load(Ordering::Relaxed),
                    p.fec.load(Ordering::Relaxed),
                    p.concealed.load(Ordering::Relaxed),
                    p.refused.load(Ordering::Relaxed),
                ));
            }
            // What the sound card said: overruns on capture, underruns on
            // playback (each recovered, but each a gap in the audio).
            let device = |threads: &[AudioThread], name: String| {
                threads
                    .iter()
                    .find(|t| t.name() == name)
                    .map(|t| t.counters().snapshot())
            };
            if let Some(c) = device(&self.captures, format!("capture-{}", ch.id)) {
                line.push_str(&format!(" capture_xruns={}", c.xruns));
            }
            if let Some(p) = device(&self.playbacks, format!("playback-{}", ch.id)) {
                line.push_str(&format!(" playback_xruns={}", p.xruns));
            }
            log::info!("{line}");
        }
    }

    /// Stops capture (ending talk-spurts), lets the network send what
    /// is queued, then stops it, playback and the relay.
    fn stop_all(&mut self) {
        if let Some(http) = self.http.take() {
            http.stop();
        }
        for thread in self.captures.drain(..) {
            let name = thread.name().to_owned();
            if let Err(err) = thread.stop() {
                log::error!("{name}: {err}");
            }
        }
        // The network thread sends the end-of-transmission frames just
        // queued on its last turn.
        self.net.request_stop();
        for thread in self.playbacks.drain(..) {
            let name = thread.name().to_owned();
            if let Err(err) = thread.stop() {
                log::error!("{name}: {err}");
            }
        }
        self.net.join();
        // The network thread's end closed the recorder's commands: it
        // finishes what is open.
        if let Some(recorder) = self.recorder.take() {
            recorder.join();
        }
        // The destinations stop before the events thread: their threads
        // hold `Events` clones it waits for. What they had not delivered
        // stays in the outbox for the next start.
        if let Some(mut delivery) = self.delivery.take() {
            delivery.stop();
        }
        if let Some(journal) = self.journal.take() {
            journal.emit("node", None, crate::fields! { "state" => "stop" });
        }
        if let Some(writer) = self.journal_writer.take() {
            writer.join();
        }
        if let Some(relay) = self.relay.take()
            && let Err(err) = relay.stop()
        {
            log::error!("embedded relay: {err}");
        }
    }
}

/// Channel `index`'s tone detector and the names of its definitions, if
/// it listens for anything (definitions or DTMF).
fn detector_for(
    config: &Config,
    index: usize,
) -> Result<Option<(Detector, Vec<Named>)>, StartError> {
    let ch = &config.channels[index];
    let setup_error = |source| StartError::Pipeline {
        index,
        channel: ch.id.clone(),
        source,
    };
    let plan = tone_plan::plan(config, Some(&ch.id))
        .map_err(|errors| setup_error(ChannelSetupError::Tones(errors)))?;
    if plan.names.is_empty() && plan.dtmf.is_none() {
        return Ok(None);
    }
    let rate_hz = StreamParams::from_config(&config.audio).rate_hz;
    let mut detector =
        ChannelDetector::new(rate_hz, &plan.definitions).map_err(refusal::detector_rate)?;
    // A plan has DTMF settings only from the channel's dtmf section.
    let sequencer = match (&plan.dtmf, &ch.dtmf) {
        (Some(core), Some(dtmf)) => {
            detector
                .set_dtmf(Some(core))
                .map_err(|err| refusal::dtmf(index, dtmf, err))?;
            Some(
                DtmfSequencer::new(SequenceConfig {
                    rate_hz,
                    timeout_ms: dtmf.sequence_timeout_ms,
                })
                .map_err(|err| refusal::dtmf_sequence(index, err))?,
            )
        }
        _ => None,
    };
    Ok(Some(((Box::new(detector), sequencer), plan.names)))
}

/// A channel's detector and, with DTMF on, its digits' sequencer.
type Detector = (Box<ChannelDetector>, Option<DtmfSequencer>);

/// What a channel's capture side feeds besides the network: its detector
/// with the ring its detections go to, and the recorder's audio ring; and
/// what steers its coding: the engine's verdict and the pre-roll's length
/// in frames.
type ChannelTaps = (
    Option<(Detector, rtrb::Producer<Heard>)>,
    Option<rtrb::Producer<audio::Block>>,
    Arc<capture::PacketsWanted>,
    usize,
);

/// Makes the recordings folder and finishes or removes what a killed
/// node left in it, saying which. A folder that cannot be made is an
/// `error` event and a log line, not a reason to stop: alerts still go out,
/// and each recording tried says why it failed.
fn recover_recordings(dir: &std::path::Path, journal: &Events) {
    if let Err(error) = std::fs::create_dir_all(dir) {
        let message = format!(
            "recordings.dir {}: {error}; recordings fail until it can be created and written",
            dir.display()
        );
        log::error!("{message}");
        journal.emit(
            "error",
            None,
            crate::fields! { "component" => "recorder", "message" => message },
        );
        return;
    }
    match crate::recording::recover_leftovers(dir) {
        Ok(leftovers) => {
            for leftover in leftovers {
                log::warn!("recordings: {leftover}");
            }
        }
        Err(error) => log::error!("recordings: leftovers not recovered: {error}"),
    }
}

/// Each channel's transmitter and COR lines, as requested.
type RadioLines = Vec<(Option<crate::gpio::PttLine>, Option<crate::gpio::CorLine>)>;

/// Requests every channel's PTT line (driven unkeyed at once), then every
/// COR line, from the config's GPIO backend, and says how each channel's
/// radio works. A line that cannot be had stops the start, naming the
/// channel, chip and line; the PTT lines already requested are released
/// as they are dropped.
fn open_radio_lines(config: &Config) -> Result<(RadioLines, Vec<Option<RadioConfig>>), StartError> {
    use crate::gpio::{BackendSpec, InputConfig, OutputConfig};
    let backend = config.gpio_backend.parse::<BackendSpec>()?.open();
    let mut lines: RadioLines = Vec::new();
    for (index, ch) in config.channels.iter().enumerate() {
        let ptt = match &ch.ptt {
            Some(ptt) => Some(
                backend
                    .request_ptt(&OutputConfig::from_config(
                        ptt,
                        &format!("echostream:{}", ch.id),
                    ))
                    .map_err(|source| StartError::Gpio {
                        index,
                        channel: ch.id.clone(),
                        what: "PTT",
                        source,
                    })?,
            ),
            None => None,
        };
        lines.push((ptt, None));
    }
    let mut radios = Vec::new();
    for (index, ch) in config.channels.iter().enumerate() {
        if let Cor::Gpio(gpio) = &ch.cor {
            // The kernel filters chatter; core's COR machine does the
            // debounce the config asks for.
            let input = InputConfig::from_config(
                gpio,
                KERNEL_DEBOUNCE_MS,
                &format!("echostream:{}", ch.id),
            );
            let line = backend
                .request_cor(&input)
                .map_err(|source| StartError::Gpio {
                    index,
                    channel: ch.id.clone(),
                    what: "COR",
                    source,
                })?;
            lines[index].1 = Some(line);
        }
        radios.push(radio_config(ch));
    }
    Ok((lines, radios))
}

/// How channel `ch`'s radio works for the node engine: its COR line,
/// transmitter and timers (`None`: no radio control; VOX or "always"
/// opens it, nothing is keyed).
pub fn radio_config(ch: &Channel) -> Option<RadioConfig> {
    let has_radio = ch.ptt.is_some() || matches!(ch.cor, Cor::Gpio(_));
    has_radio.then(|| RadioConfig {
        timers: ch.timers.core(),
        cor_line: matches!(ch.cor, Cor::Gpio(_)),
        ptt: ch.ptt.is_some(),
        full_duplex: ch.full_duplex,
        busy_lockout: ch.busy_lockout,
        busy_wait_ms: ch.busy_wait_ms,
    })
}

/// What the node engine is told about channel `index` of `config`, whose
/// tone definitions are named `tone_names` (`tone_plan::plan`'s names for
/// the channel): its pre-roll, rate, radio, and how it records (only when
/// a definition records).
///
/// # Panics
/// `index` is not a channel of `config`.
pub fn engine_channel<'a>(
    config: &'a Config,
    index: usize,
    tone_names: &'a [Named],
) -> EngineChannel<'a> {
    let ch = &config.channels[index];
    let rate_hz = StreamParams::from_config(&config.audio).rate_hz;
    let record = RecordConfig {
        rate_hz,
        silence_stop_ms: config.recordings.record_silence_stop_ms,
        min_ms: config.recordings.record_min_ms,
        silence_threshold_dbfs: config.recordings.silence_threshold_dbfs,
    };
    let records = tone_names.iter().any(|n| n.record_length_ms > 0);
    let preroll_frames = (f64::from(config.audio.preroll_ms) / config.audio.frame_ms).ceil();
    EngineChannel {
        id: &ch.id,
        preroll_frames: (preroll_frames as usize).min(echostream_core::node::FRAME_ENTRIES),
        rate_hz,
        record: records.then_some(record),
        radio: radio_config(ch),
        tone_names,
    }
}

/// The kernel's debounce on COR lines: enough to drop contact chatter.
const KERNEL_DEBOUNCE_MS: u32 = 5;

/// Makes the folder of a `file:` output (`file:recordings/out.wav`) so a
/// fresh checkout runs without preparing folders by hand.
fn create_parent_dir(device: &str) -> Result<(), ChannelSetupError> {
    let Some(path) = device.strip_prefix("file:") else {
        return Ok(());
    };
    match std::path::Path::new(path).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| ChannelSetupError::OutputFolder {
                dir: dir.to_owned(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// The jitter buffer settings of `config.audio` (the rest DESIGN's
/// defaults).
pub fn jitter_config(config: &Config) -> JitterConfig {
    jitter_config_of(&config.audio)
}

/// The jitter buffer settings of an `audio` section.
pub fn jitter_config_of(audio: &Audio) -> JitterConfig {
    let frame_samples = (audio.frame_ms * f64::from(MEDIA_RATE_HZ) / 1_000.0).round();
    JitterConfig::for_audio(
        frame_samples as u32,
        audio.jitter_min_ms,
        audio.jitter_max_ms,
    )
}

/// Starts the embedded relay when the config asks for one, and says
/// where the network loop connects.
fn relay_and_settings(
    config: &Config,
) -> Result<(Option<echostream_relay::server::ServerHandle>, NetSettings), StartError> {
    match &config.relay {
        Relay::Embedded => {
            use echostream_relay::server::{Server, ServerConfig};
            let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
            let relay_config = ServerConfig::new(loopback, loopback, TokenPolicy::AnyToken);
            let server = Server::bind(relay_config)?;
            let url = format!("ws://{}", server.ws_addr());
            log::info!("embedded relay on {url}, UDP {}", server.udp_addr());
            let handle = server.spawn()?;
            let settings = NetSettings {
                node_id: config.node_id.clone(),
                url,
                token: "embedded".to_owned(),
                ca_file: None,
                connect_timeout: Duration::from_secs(5),
                reconnect_max: Duration::from_secs(5),
            };
            Ok((Some(handle), settings))
        }
        Relay::Remote(remote) => Ok((None, NetSettings::remote(&config.node_id, remote))),
    }
}
