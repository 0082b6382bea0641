//! The kernel's floor: what one HTTP request over loopback costs in system CPU when user space
//! does next to nothing, so that the daemon's system CPU per reply can be read against it.
//!
//! One thread sends small keep-alive requests to the simulator and reads its own
//! `utime`/`stime` (`/proc/thread-self/stat`) before and after, three ways: blocking sockets
//! with requests in flight [`PIPELINE`] at a time, each its own `write` (the kernel's work for
//! the traffic without a sleep and wake-up per request: the floor), blocking sockets one
//! request at a time (a wake-up per request, as a lightly loaded daemon has), and `reqwest` on
//! a current-thread tokio runtime one at a time (non-blocking sockets and `epoll`, as the
//! daemon does, without its thread hops). The server's side is the simulator's, not counted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use tokio::time::Instant;

use crate::procfs::{Cpu, cpu_of};

/// Requests per probe: `stat` counts in ticks (10 ms), so enough for a few hundred of them.
const REQUESTS: usize = 20_000;
/// Requests in flight in the pipelined probe.
const PIPELINE: usize = 16;
/// Requests of the pipelined probe: few, as the simulator's server flushes pipelined answers
/// late (a batch takes tens of milliseconds of waiting, not CPU); its CPU is read in
/// nanoseconds (`schedstat`), not ticks.
const PIPELINED_REQUESTS: usize = 1_600;
/// Connections a blocking probe may open, one after the other.
const MAX_CONNECTIONS: usize = 50;
/// Each probe stops after this long, done or not.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// CPU per request of the two probes, µs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Floor {
    pub pipelined: PerRequest,
    pub blocking: PerRequest,
    pub tokio: PerRequest,
}

/// User and system CPU per request, µs (`stat`, sampled in ticks), their sum measured in
/// nanoseconds (`schedstat`), and how many requests were measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct PerRequest {
    pub user_us: f64,
    pub system_us: f64,
    pub total_us: f64,
    pub requests: usize,
}

impl PerRequest {
    fn of(cpu: Cpu, runtime_ns: u64, requests: usize) -> PerRequest {
        let per = |s: f64| s * 1e6 / requests.max(1) as f64;
        PerRequest {
            user_us: per(cpu.user),
            system_us: per(cpu.system),
            total_us: per(runtime_ns as f64 / 1e9),
            requests,
        }
    }
}

/// The time this thread has run, ns (the first field of `schedstat`).
fn thread_runtime_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Both probes against the simulator listening at `addr` (`127.0.0.1:PORT`), each on a thread
/// of its own.
pub fn measure(addr: String) -> Floor {
    let a = addr.clone();
    let pipelined = std::thread::spawn(move || blocking_probe(&a, PIPELINE, PIPELINED_REQUESTS))
        .join()
        .unwrap_or_default();
    let a = addr.clone();
    let blocking = std::thread::spawn(move || blocking_probe(&a, 1, REQUESTS))
        .join()
        .unwrap_or_default();
    let tokio = std::thread::spawn(move || tokio_probe(&addr))
        .join()
        .unwrap_or_default();
    Floor {
        pipelined,
        blocking,
        tokio,
    }
}

fn thread_cpu() -> Cpu {
    cpu_of("/proc/thread-self/stat")
}

/// Blocking keep-alive HTTP/1.1, `depth` requests in flight (HTTP/1.1 pipelining), each
/// request its own `write`; responses are read as they come.
fn blocking_probe(addr: &str, depth: usize, requests: usize) -> PerRequest {
    let request = format!("GET /sim/violations HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    let (start, before, ran) = (Instant::now(), thread_cpu(), thread_runtime_ns());
    let mut done = 0;
    // A connection the server stops answering (it may cap pipelined requests) is replaced.
    for _ in 0..MAX_CONNECTIONS {
        if done >= requests || start.elapsed() >= PROBE_TIMEOUT {
            break;
        }
        let Ok(stream) = TcpStream::connect(addr) else {
            break;
        };
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let Ok(mut writer) = stream.try_clone() else {
            break;
        };
        let mut reader = BufReader::new(stream);
        'connection: while done < requests && start.elapsed() < PROBE_TIMEOUT {
            for _ in 0..depth {
                if writer.write_all(request.as_bytes()).is_err() {
                    break 'connection;
                }
            }
            for _ in 0..depth {
                if !read_response(&mut reader) {
                    break 'connection;
                }
                done += 1;
            }
        }
    }
    PerRequest::of(thread_cpu() - before, thread_runtime_ns() - ran, done)
}

/// Read one response with a `content-length` body; false on any failure.
fn read_response(reader: &mut BufReader<TcpStream>) -> bool {
    let mut length = 0;
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).is_ok()
}

/// reqwest on a current-thread runtime: the same requests through hyper, tokio and `epoll`.
fn tokio_probe(addr: &str) -> PerRequest {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let url = format!("http://{addr}/sim/violations");
    runtime.block_on(async {
        let http = reqwest::Client::builder()
            .no_proxy()
            .http1_only()
            .tcp_nodelay(true)
            .build()
            .expect("a reqwest client");
        // The connection is opened before the measurement.
        let _ = http.get(&url).send().await.map(|r| r.bytes());
        let (start, before, ran) = (Instant::now(), thread_cpu(), thread_runtime_ns());
        let mut done = 0;
        while done < REQUESTS && start.elapsed() < PROBE_TIMEOUT {
            let Ok(response) = http.get(&url).send().await else {
                break;
            };
            if response.bytes().await.is_err() {
                break;
            }
            done += 1;
        }
        PerRequest::of(thread_cpu() - before, thread_runtime_ns() - ran, done)
    })
}

/// Start a simulator of its own (`sim` is the gws-botd binary), measure, stop it; `None` when
/// the simulator did not come up.
pub async fn run(sim: &std::path::Path) -> Option<Floor> {
    let port = crate::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(sim)
        .args(["sim", "--listen", &addr])
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&addr).is_err() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let floor = tokio::task::spawn_blocking(move || measure(addr))
        .await
        .ok();
    let _ = child.kill();
    let _ = child.wait();
    floor
}

/// The probes' results (one line, under a level's table).
pub fn print(floor: &Floor) {
    println!(
        "  per HTTP request (client, µs user / system): pipelined {:.1} in all ({} requests), \
         one at a time {:.1} / {:.1}, tokio+reqwest {:.1} / {:.1} ({} each)",
        floor.pipelined.total_us,
        floor.pipelined.requests,
        floor.blocking.user_us,
        floor.blocking.system_us,
        floor.tokio.user_us,
        floor.tokio.system_us,
        floor.blocking.requests.min(floor.tokio.requests)
    );
}

/// Per level: the floor for the HTTP requests a reply takes, against a tenth of the baseline.
pub fn print_level(floor: &Floor, http_per_reply: f64, system_us: f64, base_total_us: f64) {
    // The pipelined probe's CPU is the kernel's but for a few hundred nanoseconds of parsing,
    // and it runs too briefly for `stat`'s tick-sampled user/system split: its total counts.
    let floor_us = floor.pipelined.total_us * http_per_reply;
    let system = |p: PerRequest| p.system_us * http_per_reply;
    let client = (floor.tokio.user_us + floor.tokio.system_us) * http_per_reply;
    println!(
        "  kernel floor µs/reply  {floor_us:>10.0} pipelined, {:.0} one at a time; a bare reqwest \
         client {client:.0} ({http_per_reply:.2} requests)",
        system(floor.blocking),
    );
    if base_total_us > 0.0 {
        let tenth = base_total_us / 10.0;
        println!(
            "  0.1x of the baseline   {tenth:>10.0} µs/reply: our system CPU alone is {:.2}x \
             that, the kernel floor {:.2}x, the bare reqwest client {:.2}x",
            system_us / tenth,
            floor_us / tenth,
            client / tenth
        );
    }
}
