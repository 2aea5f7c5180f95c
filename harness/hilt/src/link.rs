//! The serial link: one request out, one response in, over a real serial
//! port (a board's TTY, QEMU's pty or the simulation's pty).
//!
//! The link is protocol-agnostic. A transaction ends the moment the
//! protocol's [`Framing`] says the response is complete, after the line has
//! been silent for the inter-frame gap when the protocol cannot tell, or when
//! no first byte arrives within the response timeout. There is no fixed
//! sleep anywhere: the next request can go out as soon as this one ends.
//!
//! The port is opened for exclusive use (TIOCEXCL and an exclusive `flock`),
//! so two runs cannot fight over one device. [`SerialLink::stand_aside`]
//! gives it up to other programs (a Modbus master talking to `hilt serve`)
//! while still holding the device open.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hilt_protocol::Framing;
use serialport::{ClearBuffer, SerialPort, TTYPort};

use crate::interrupt;

/// Errors of the serial link.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The serial port could not be opened.
    #[error("cannot open serial port {path}: {source} (is it busy, or did the device go away?)")]
    Open {
        /// The port's path.
        path: PathBuf,
        /// Why.
        source: serialport::Error,
    },
    /// Reading or writing the port failed.
    #[error("serial port {path} failed: {source} (did the device go away?)")]
    Io {
        /// The port's path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The user interrupted the transaction.
    #[error("interrupted")]
    Interrupted,
}

/// How long to wait on the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long to wait for the first byte of a response.
    pub response_timeout: Duration,
    /// How long the line must be silent to end a response whose length the
    /// protocol cannot tell. On a pty or USB serial port this is host
    /// scheduling, not baud-rate timing, so it is well above t3.5.
    pub silence: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            response_timeout: Duration::from_millis(500),
            silence: Duration::from_millis(20),
        }
    }
}

/// How a transaction's response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The protocol said the response was complete.
    Complete,
    /// The line went silent after some bytes.
    Silence,
    /// No byte arrived within the response timeout.
    Timeout,
    /// The response grew past the largest the link accepts.
    Overflow,
}

/// One request's response, borrowed from the link's buffer.
#[derive(Debug)]
pub struct Exchange<'a> {
    /// The bytes received (the complete response, or whatever came).
    pub response: &'a [u8],
    /// How it ended.
    pub ended: Ended,
    /// From the end of the write to the last byte received (or the timeout).
    pub elapsed: Duration,
    /// Bytes that were waiting before the request was sent: a late answer to
    /// an earlier request, more bytes than its response had, crash output.
    /// They are discarded, never taken for this response.
    pub stale: &'a [u8],
}

/// The largest response the link collects before it gives up on a chatty
/// device.
const MAX_RESPONSE: usize = 4096;

/// A serial port with request/response transactions.
#[derive(Debug)]
pub struct SerialLink {
    /// The port, while hilt uses it.
    port: Option<TTYPort>,
    /// A plain, unlocked descriptor that keeps the device open while hilt
    /// stands aside (see [`SerialLink::stand_aside`]).
    holder: Option<std::fs::File>,
    path: PathBuf,
    baud: u32,
    buf: Vec<u8>,
    stale: Vec<u8>,
    /// Bytes that came after the last response was complete.
    excess: Vec<u8>,
    /// Listen until the line is quiet before the next request: the last
    /// transaction ended without an answer (a late one may be on its way),
    /// or its bytes may have left the device in the middle of a frame.
    settle: bool,
}

impl SerialLink {
    /// Opens `path` at `baud`, 8N1, for exclusive use, with empty buffers.
    pub fn open(path: &Path, baud: u32) -> Result<Self, LinkError> {
        let mut link = SerialLink {
            port: None,
            holder: None,
            path: path.to_owned(),
            baud,
            buf: Vec::with_capacity(MAX_RESPONSE),
            stale: Vec::new(),
            excess: Vec::new(),
            settle: false,
        };
        link.ensure_open()?;
        link.clear_input()?;
        Ok(link)
    }

    fn ensure_open(&mut self) -> Result<(), LinkError> {
        if self.port.is_none() {
            let port = serialport::new(self.path.to_string_lossy(), self.baud)
                .timeout(Duration::from_millis(100))
                .open_native()
                .map_err(|source| LinkError::Open {
                    path: self.path.clone(),
                    source,
                })?;
            self.port = Some(port);
            self.holder = None;
        }
        Ok(())
    }

    /// Lets other programs open the device (no exclusive mode, no lock)
    /// while still holding it open, so that a pty does not hang up between
    /// clients. The next transaction takes the port back.
    pub fn stand_aside(&mut self) -> Result<(), LinkError> {
        use std::os::unix::fs::OpenOptionsExt;
        let holder = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NOCTTY.bits())
            .open(&self.path)
            .map_err(|e| self.io_error(e))?;
        self.holder = Some(holder);
        // Dropping the port clears TIOCEXCL and releases its lock.
        self.port = None;
        Ok(())
    }

    /// The port's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Discards whatever is waiting to be read.
    pub fn clear_input(&mut self) -> Result<(), LinkError> {
        self.ensure_open()?;
        let result = match self.port.as_mut() {
            Some(port) => port.clear(ClearBuffer::Input),
            None => Ok(()),
        };
        result.map_err(|e| self.io_error(e.into()))
    }

    fn io_error(&self, source: io::Error) -> LinkError {
        LinkError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Writes bytes without waiting for anything back.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.ensure_open()?;
        let result = match self.port.as_mut() {
            Some(port) => port.write_all(bytes),
            None => Ok(()),
        };
        result.map_err(|e| self.io_error(e))
    }

    /// Makes the next transaction first wait for the line to be quiet for the
    /// inter-frame gap. Call it after sending bytes that are not one
    /// well-formed frame (garbage, a frame with trailing bytes, a broadcast):
    /// a master must leave the device that silence to end the frame, or the
    /// next request runs into the leftover bytes.
    pub fn settle_before_next(&mut self) {
        self.settle = true;
    }

    /// Sends `request` and collects its response, asking `framing` after
    /// every read whether it is complete.
    pub fn transact(
        &mut self,
        request: &[u8],
        timing: Timing,
        mut framing: impl FnMut(&[u8]) -> Framing,
    ) -> Result<Exchange<'_>, LinkError> {
        self.ensure_open()?;
        let SerialLink {
            port: Some(port),
            path,
            buf,
            stale,
            excess,
            settle,
            ..
        } = self
        else {
            return Err(self.io_error(io::ErrorKind::NotConnected.into()));
        };
        let io_error = |source| LinkError::Io {
            path: path.clone(),
            source,
        };
        // Stale bytes (a late answer, crash output, more than the last
        // response had) must not be taken for this request's response; they
        // are kept aside for the caller.
        stale.clear();
        stale.append(excess);
        let mut chunk = [0u8; 512];
        if std::mem::take(settle) {
            // A late answer to the last request would otherwise arrive just
            // after this one is sent and pass for its answer, and bytes left
            // over from it would run into this request: listen until the line
            // has been quiet for the inter-frame gap.
            let deadline = Instant::now() + timing.silence * 10;
            loop {
                port.set_timeout(timing.silence)
                    .map_err(|e| io_error(e.into()))?;
                match port.read(&mut chunk) {
                    Ok(n) if n > 0 && stale.len() < MAX_RESPONSE && Instant::now() < deadline => {
                        stale.extend_from_slice(&chunk[..n]);
                    }
                    Ok(_) => break,
                    Err(e) if e.kind() == io::ErrorKind::TimedOut => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(io_error(e)),
                }
            }
        }
        // One ioctl when nothing is waiting, the usual case on this hot path.
        while port.bytes_to_read().map_err(|e| io_error(e.into()))? > 0 {
            if stale.len() >= MAX_RESPONSE {
                // A chatty device: keep what was kept, drop the rest.
                port.clear(ClearBuffer::Input)
                    .map_err(|e| io_error(e.into()))?;
                break;
            }
            port.set_timeout(Duration::ZERO)
                .map_err(|e| io_error(e.into()))?;
            match port.read(&mut chunk) {
                Ok(n) if n > 0 => stale.extend_from_slice(&chunk[..n]),
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => break,
                Err(e) => return Err(io_error(e)),
            }
        }
        buf.clear();
        port.write_all(request).map_err(io_error)?;
        let sent = Instant::now();
        let mut last = sent;
        let ended = loop {
            if interrupt::requested() {
                return Err(LinkError::Interrupted);
            }
            let now = Instant::now();
            let wait = if buf.is_empty() {
                match (sent + timing.response_timeout).checked_duration_since(now) {
                    Some(d) if !d.is_zero() => d,
                    _ => break Ended::Timeout,
                }
            } else {
                match (last + timing.silence).checked_duration_since(now) {
                    Some(d) if !d.is_zero() => d,
                    _ => break Ended::Silence,
                }
            };
            // Wake up regularly to notice an interrupt.
            let wait = wait.min(interrupt::POLL);
            port.set_timeout(wait).map_err(|e| io_error(e.into()))?;
            match port.read(&mut chunk) {
                Ok(0) => continue,
                Ok(n) => {
                    last = Instant::now();
                    buf.extend_from_slice(&chunk[..n]);
                    match framing(buf) {
                        Framing::Complete(len) if len <= buf.len() => {
                            excess.extend_from_slice(&buf[len..]);
                            buf.truncate(len);
                            break Ended::Complete;
                        }
                        _ if buf.len() >= MAX_RESPONSE => break Ended::Overflow,
                        _ => {}
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(e)),
            }
        };
        *settle |= ended == Ended::Timeout;
        let elapsed = match ended {
            Ended::Timeout => timing.response_timeout,
            _ => last.duration_since(sent),
        };
        Ok(Exchange {
            response: buf,
            ended,
            elapsed,
            stale,
        })
    }
}
