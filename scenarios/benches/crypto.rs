//! Figures for issue #10 (crypto): PKCS issuances per second for P-256 and RSA-2048 keys (made per
//! request, and from the key pool) next to the bound `openssl speed` sets for the same operations,
//! all in one run on one thread.
//!
//! `cargo bench -p intune-mock-scenarios --bench crypto` runs
//! `openssl speed -seconds 2 -mr rsa2048 ecdsap256`, measures what `openssl speed` (OpenSSL 3.0)
//! has no figure for (P-256 and RSA-2048 key generation) in this process with the same library,
//! then the issuances, and prints each figure with its bound, the ratio and BENCHMARKS.md rows.
//! Loops are bounded in count (a few seconds a row); nothing here is a test.

use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use connector_sim::pki::{self, CertificateAuthority, IssueRequest, KeyAlgorithm, KeyPool};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

const SPEED_COMMAND: &str = "openssl speed -seconds 2 -mr rsa2048 ecdsap256";
const BENCH_COMMAND: &str = "cargo bench -p intune-mock-scenarios --bench crypto";
/// RSA-2048 keys made per request (few: each takes a prime search).
const RSA_FRESH_COUNT: u32 = 8;

#[path = "support/record.rs"]
mod record;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-10-01T00:00:00Z")
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Operations per second from `openssl speed -mr`: RSA-2048 sign and verify, ECDSA P-256 sign
/// and verify.
#[derive(Debug, Clone, Copy)]
struct Speed {
    rsa2048_sign: f64,
    rsa2048_verify: f64,
    p256_sign: f64,
    p256_verify: f64,
}

/// Reads the `+F2:<n>:2048:<sign/s>:<verify/s>` (RSA) and `+F4:<n>:256:<sign/s>:<verify/s>`
/// (ECDSA) lines `openssl speed -mr` prints.
fn parse_speed(text: &str) -> anyhow::Result<Speed> {
    let rates = |kind: &str, bits: &str| -> anyhow::Result<(f64, f64)> {
        let line = text
            .lines()
            .find(|l| {
                let mut fields = l.split(':');
                fields.next() == Some(kind) && fields.nth(1) == Some(bits)
            })
            .ok_or_else(|| {
                anyhow::anyhow!("no `{kind}:…:{bits}` line in openssl speed's output")
            })?;
        let fields: Vec<&str> = line.split(':').collect();
        anyhow::ensure!(fields.len() >= 5, "short line `{line}`");
        Ok((fields[3].trim().parse()?, fields[4].trim().parse()?))
    };
    let (rsa2048_sign, rsa2048_verify) = rates("+F2", "2048")?;
    let (p256_sign, p256_verify) = rates("+F4", "256")?;
    Ok(Speed {
        rsa2048_sign,
        rsa2048_verify,
        p256_sign,
        p256_verify,
    })
}

fn run_openssl_speed() -> anyhow::Result<(Speed, String)> {
    let mut parts = SPEED_COMMAND.split_whitespace();
    let program = parts.next().unwrap_or("openssl");
    let output = Command::new(program).args(parts).output()?;
    anyhow::ensure!(
        output.status.success(),
        "`{SPEED_COMMAND}` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let version = Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    Ok((parse_speed(&text)?, version))
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat` (nanoseconds, user and
/// system). `openssl speed` counts CPU time too (user time, unless given `-elapsed`), so both sides
/// of a ratio are measured alike and other processes on the machine do not skew it.
fn thread_cpu() -> anyhow::Result<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    let nanos: u64 = text
        .split_whitespace()
        .next()
        .ok_or_else(|| anyhow::anyhow!("empty schedstat"))?
        .parse()?;
    Ok(Duration::from_nanos(nanos))
}

/// Time per call of an operation: CPU time of this thread, and wall time.
#[derive(Debug, Clone, Copy)]
struct PerOp {
    cpu: f64,
    wall: f64,
}

/// Times `count` calls of `op` after one warm-up call.
fn per_op(count: u32, mut op: impl FnMut(u32) -> anyhow::Result<()>) -> anyhow::Result<PerOp> {
    op(u32::MAX)?;
    let cpu = thread_cpu()?;
    let wall = Instant::now();
    for i in 0..count {
        op(i)?;
    }
    Ok(PerOp {
        cpu: (thread_cpu()? - cpu).as_secs_f64() / count as f64,
        wall: wall.elapsed().as_secs_f64() / count as f64,
    })
}

/// What the benchmark asks for: a device certificate, no SAN, no SID.
fn wanted(subject: &str) -> IssueRequest {
    IssueRequest {
        template: "IntuneDevice".into(),
        subject: subject.to_owned(),
        subject_alternative_names: vec![],
        validity_days: 365,
        sid: None,
        requester: None,
    }
}

/// The embedded ADCS-like CA (RSA-2048) the connector issues from.
fn embedded_ca() -> anyhow::Result<CertificateAuthority> {
    Ok(CertificateAuthority::new(
        "ca01",
        "Contoso Issuing CA",
        start(),
    )?)
}

/// The subject of the `i`th certificate.
fn subject(i: u32) -> String {
    format!("CN=device-{i:06}")
}

/// One issuance as the connector's PKCS job does it with its embedded CA: the CA takes the
/// connector's key in process and builds, signs and records the certificate.
fn issue_for_key(
    ca: &mut CertificateAuthority,
    key: &PKey<Private>,
    i: u32,
) -> anyhow::Result<X509> {
    let subject = subject(i);
    Ok(ca.issue_for_key(key, &wanted(&subject), start())?)
}

/// One issuance through a CSR, as for an HTTP CA: the key signs a request, the CA checks its
/// signature, then builds, signs and records the certificate.
fn issue_with_csr(
    ca: &mut CertificateAuthority,
    key: &PKey<Private>,
    i: u32,
) -> anyhow::Result<X509> {
    let subject = subject(i);
    let request = pki::certificate_request(key, &subject)?;
    Ok(ca.issue(&request, &wanted(&subject), start())?)
}

/// The rest of a PKCS job after issuance: PKCS#12 (AES-256, 2048 PBKDF2 iterations) and the
/// password in CMS EnvelopedData to the device's (P-256) key certificate.
fn package(
    key: &PKey<Private>,
    certificate: &X509,
    ca: &X509,
    device: &X509,
) -> anyhow::Result<()> {
    let password = pki::random_password()?;
    let pfx = pki::build_pfx(key, certificate, ca, &password)?;
    let (encrypted, _) = pki::encrypt_to_device(device, password.as_bytes())?;
    anyhow::ensure!(!pfx.is_empty() && !encrypted.is_empty());
    Ok(())
}

struct Row {
    what: &'static str,
    count: u32,
    time: PerOp,
    bound: Option<f64>,
}

impl Row {
    fn per_second(&self) -> f64 {
        1.0 / self.time.cpu
    }

    fn ratio(&self) -> Option<f64> {
        self.bound.map(|b| 100.0 * self.per_second() / b)
    }

    fn print(&self) {
        let bound = self
            .bound
            .map(|b| format!("{b:>6.0} /s"))
            .unwrap_or_else(|| "     — ".into());
        let ratio = self
            .ratio()
            .map(|r| format!("{r:>5.1} %"))
            .unwrap_or_else(|| "    —  ".into());
        println!(
            "{:<78} {:>7.1} /s ({:>6.0} µs CPU, {:>6.0} µs wall, {:>5})  bound {bound}  {ratio}",
            self.what,
            self.per_second(),
            self.time.cpu * 1e6,
            self.time.wall * 1e6,
            self.count,
        );
    }

    fn markdown(&self) -> String {
        let bound = self
            .bound
            .map(|b| format!("{b:.0} /s"))
            .unwrap_or_else(|| "—".into());
        let ratio = self
            .ratio()
            .map(|r| format!("{r:.0} %"))
            .unwrap_or_else(|| "—".into());
        format!(
            "| {}, {} | `{BENCH_COMMAND}` | {:.0} /s | {bound} | {ratio} |",
            self.what,
            self.count,
            self.per_second()
        )
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The bounds the issuance rows are held against: `openssl speed`'s RSA-2048 signature (the CA's)
/// and this library's P-256 key generation.
struct Bounds {
    /// CPU seconds of one RSA-2048 signature, by `openssl speed`.
    t_ca_sign: f64,
    /// P-256 issuance: 1/(t_keygen P-256 + t_sign RSA-2048).
    p256: f64,
    /// RSA-2048 issuance with the key pool: 1/t_sign RSA-2048.
    pool: f64,
}

/// Runs `openssl speed` and measures P-256 key generation (which it has no figure for), printing
/// both.
fn bounds(pool: &KeyPool) -> anyhow::Result<Bounds> {
    println!("running `{SPEED_COMMAND}` (one process, one thread; it counts user CPU time) …");
    let (speed, version) = run_openssl_speed()?;
    println!("{version}");
    println!(
        "openssl speed: RSA-2048 sign {:.1} /s ({:.1} µs), verify {:.1} /s; ECDSA P-256 sign {:.1} /s, verify {:.1} /s",
        speed.rsa2048_sign,
        1e6 / speed.rsa2048_sign,
        speed.rsa2048_verify,
        speed.p256_sign,
        speed.p256_verify
    );
    println!("openssl speed in OpenSSL 3.0 has no key generation figure: P-256 and RSA-2048 key generation are measured here, on this thread, with the same library.");

    // The bound's P-256 key generation: EC_KEY_generate_key on a group made once.
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let p256_keygen = per_op(40_000, |_| {
        PKey::from_ec_key(EcKey::generate(&group)?)?;
        Ok(())
    })?;
    let p256_keygen_pool = per_op(40_000, |_| {
        pool.generate(KeyAlgorithm::P256)?;
        Ok(())
    })?;
    println!(
        "P-256 key generation: {:.0} /s ({:.1} µs CPU) with EcKey::generate; {:.0} /s ({:.1} µs CPU) through KeyPool::generate",
        1.0 / p256_keygen.cpu,
        p256_keygen.cpu * 1e6,
        1.0 / p256_keygen_pool.cpu,
        p256_keygen_pool.cpu * 1e6
    );
    let t_ca_sign = 1.0 / speed.rsa2048_sign;
    let bounds = Bounds {
        t_ca_sign,
        p256: 1.0 / (p256_keygen.cpu + t_ca_sign),
        pool: speed.rsa2048_sign,
    };
    println!(
        "bounds: P-256 issuance 1/(t_keygen P-256 + t_sign RSA-2048, the CA's) = {:.0} /s; RSA-2048 issuance with the key pool 1/t_sign RSA-2048 = {:.0} /s",
        bounds.p256, bounds.pool
    );
    Ok(bounds)
}

/// P-256 issuances with a key made per request, directly and through a CSR.
fn p256_rows(
    ca: &mut CertificateAuthority,
    pool: &KeyPool,
    bounds: &Bounds,
) -> anyhow::Result<Vec<Row>> {
    const P256_COUNT: u32 = 5_000;
    let time = per_op(P256_COUNT, |i| {
        let key = pool.generate(KeyAlgorithm::P256)?;
        issue_for_key(ca, &key, i)?;
        Ok(())
    })?;
    let direct = Row {
        what: "P-256 issuance, key made per request",
        count: P256_COUNT,
        time,
        bound: Some(bounds.p256),
    };
    let time = per_op(P256_COUNT, |i| {
        let key = pool.generate(KeyAlgorithm::P256)?;
        issue_with_csr(ca, &key, i)?;
        Ok(())
    })?;
    let csr = Row {
        what: "P-256 issuance through a CSR, key made per request",
        count: P256_COUNT,
        time,
        bound: Some(bounds.p256),
    };
    Ok(vec![direct, csr])
}

/// Eight pre-generated RSA-2048 keys and a key pool that hands each out COUNT/8 times (the pool
/// hands out what it holds; making 3,000 RSA keys would take minutes).
struct RsaKeys {
    made: Vec<PKey<Private>>,
    pool: KeyPool,
}

impl RsaKeys {
    fn new(fresh: &KeyPool) -> anyhow::Result<RsaKeys> {
        let made = (0..8)
            .map(|_| fresh.generate(KeyAlgorithm::Rsa2048))
            .collect::<Result<_, _>>()?;
        Ok(RsaKeys {
            made,
            pool: KeyPool::new(),
        })
    }

    /// Puts enough keys in the pool for `n` issuances and the warm-up.
    fn refill(&self, n: u32) {
        let made = &self.made;
        self.pool
            .add((0..n as usize + 1).map(|i| made[i % made.len()].clone()));
    }
}

/// RSA-2048 issuances. Key generation is timed first on keys of its own (`RSA_FRESH_COUNT` of
/// them, on this thread), so the bound of the rows that count key generation,
/// 1/(t_keygen + t_sign), is not measured on the very keys it is compared with. Then: a key made
/// per request; sustained issuance from the key pool as the connector refills it
/// (`KeyPool::fill`, which makes the keys one after another on the caller's thread: the refill
/// costs one key generation a certificate, paid in batches of `REFILL`); and issuances from a
/// pool filled beforehand, which leave key generation out (their bound is the signature alone).
/// Also returns the mean key generation time and the keys.
fn rsa_rows(
    ca: &mut CertificateAuthority,
    bounds: &Bounds,
) -> anyhow::Result<(Vec<Row>, f64, RsaKeys)> {
    const REFILL: u32 = 4;
    let fresh = KeyPool::new();
    let keygen = per_op(RSA_FRESH_COUNT, |_| {
        fresh.generate(KeyAlgorithm::Rsa2048)?;
        Ok(())
    })?;
    let t_rsa_keygen = keygen.cpu;
    println!(
        "RSA-2048 key generation on this thread, {RSA_FRESH_COUNT} keys: {:.0} ms CPU each ({:.1} /s)",
        t_rsa_keygen * 1e3,
        1.0 / t_rsa_keygen
    );
    let with_keygen = Some(1.0 / (t_rsa_keygen + bounds.t_ca_sign));
    let time = per_op(RSA_FRESH_COUNT, |i| {
        let key = fresh.generate(KeyAlgorithm::Rsa2048)?;
        issue_for_key(ca, &key, i)?;
        Ok(())
    })?;
    let mut rows = vec![Row {
        what: "RSA-2048 issuance, key made per request (bound: key generation timed on other keys + the CA's signature)",
        count: RSA_FRESH_COUNT,
        time,
        bound: with_keygen,
    }];
    let refilled = KeyPool::new();
    let time = per_op(RSA_FRESH_COUNT, |i| {
        if refilled.is_empty() {
            refilled.fill(REFILL as usize)?;
        }
        let key = refilled.generate(KeyAlgorithm::Rsa2048)?;
        issue_for_key(ca, &key, i)?;
        Ok(())
    })?;
    rows.push(Row {
        what: "RSA-2048 sustained issuance, key pool refilled by `KeyPool::fill` 4 keys at a time (key generation counted)",
        count: RSA_FRESH_COUNT,
        time,
        bound: with_keygen,
    });

    const POOL_COUNT: u32 = 3_000;
    let keys = RsaKeys::new(&fresh)?;
    keys.refill(POOL_COUNT);
    let time = per_op(POOL_COUNT, |i| {
        let key = keys.pool.generate(KeyAlgorithm::Rsa2048)?;
        issue_for_key(ca, &key, i)?;
        Ok(())
    })?;
    rows.push(Row {
        what: "RSA-2048 issuance, keys from a pool filled beforehand (key generation not counted)",
        count: POOL_COUNT,
        time,
        bound: Some(bounds.pool),
    });
    const POOL_CSR_COUNT: u32 = 1_500;
    keys.refill(POOL_CSR_COUNT);
    let time = per_op(POOL_CSR_COUNT, |i| {
        let key = keys.pool.generate(KeyAlgorithm::Rsa2048)?;
        issue_with_csr(ca, &key, i)?;
        Ok(())
    })?;
    rows.push(Row {
        what: "RSA-2048 issuance through a CSR, keys from a pool filled beforehand (key generation not counted)",
        count: POOL_CSR_COUNT,
        time,
        bound: Some(bounds.pool),
    });
    Ok((rows, t_rsa_keygen, keys))
}

/// Whole PKCS jobs: issuance, PKCS#12 and the password in CMS to the device.
fn job_rows(
    ca: &mut CertificateAuthority,
    pool: &KeyPool,
    keys: &RsaKeys,
    device: &X509,
) -> anyhow::Result<Vec<Row>> {
    const JOB_COUNT: u32 = 600;
    let time = per_op(JOB_COUNT, |i| {
        let key = pool.generate(KeyAlgorithm::P256)?;
        let certificate = issue_for_key(ca, &key, i)?;
        package(&key, &certificate, ca.certificate(), device)
    })?;
    let p256 = Row {
        what:
            "PKCS job, P-256 key per request (issuance + PKCS#12 + password in CMS to the device)",
        count: JOB_COUNT,
        time,
        bound: None,
    };
    keys.refill(JOB_COUNT);
    let time = per_op(JOB_COUNT, |i| {
        let key = keys.pool.generate(KeyAlgorithm::Rsa2048)?;
        let certificate = issue_for_key(ca, &key, i)?;
        package(&key, &certificate, ca.certificate(), device)
    })?;
    let rsa = Row {
        what: "PKCS job, RSA-2048 key from the pool (issuance + PKCS#12 + password in CMS to the device)",
        count: JOB_COUNT,
        time,
        bound: None,
    };
    Ok(vec![p256, rsa])
}

/// The parts of a PKCS job, for the profile, printed on one line.
fn print_parts(
    ca: &mut CertificateAuthority,
    pool: &KeyPool,
    signing_key: &PKey<Private>,
    device: &X509,
    (t_rsa_keygen, t_ca_sign): (f64, f64),
) -> anyhow::Result<()> {
    let key = pool.generate(KeyAlgorithm::P256)?;
    let certificate = issue_for_key(ca, &key, 0)?;
    let pfx = per_op(500, |_| {
        pki::build_pfx(
            &key,
            &certificate,
            ca.certificate(),
            "Dev1ce-Pfx-Pass-0123456",
        )?;
        Ok(())
    })?;
    let envelope = per_op(2_000, |_| {
        pki::encrypt_to_device(device, b"Dev1ce-Pfx-Pass-0123456")?;
        Ok(())
    })?;
    let tbs = vec![0x5Au8; 700];
    let sign = per_op(2_000, |_| {
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), signing_key)?;
        signer.sign_oneshot_to_vec(&tbs)?;
        Ok(())
    })?;
    println!(
        "parts (µs CPU): RSA-2048 key generation {:.0} (mean of {RSA_FRESH_COUNT}), PKCS#12 build {:.0}, password envelope (CMS to a P-256 device) {:.0}, RSA-2048 SHA-256 signature of 700 bytes here {:.0} (openssl speed: {:.0})",
        t_rsa_keygen * 1e6,
        pfx.cpu * 1e6,
        envelope.cpu * 1e6,
        sign.cpu * 1e6,
        t_ca_sign * 1e6
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    println!("load average at start: {}", load_average());
    let pool = KeyPool::new();
    let bounds = bounds(&pool)?;
    println!();
    println!("issuance = the key pair (made, or taken from the key pool) + the embedded RSA-2048 CA's issue for it (CertificateAuthority::issue_for_key, what the connector's PKCS job calls): template and validity checks, subject, serial, validity, public key, BC, KU, EKU, SKI, AKI, the certificate signed with SHA-256/RSA-2048 into an X509, serial recorded. The \"through a CSR\" rows add the CSR (signed with the new key, its signature checked by the CA), as for an HTTP CA. Not in an issuance: PKCS#12 and the password envelope (the \"PKCS job\" rows).");
    println!();

    let device_key = pool.generate(KeyAlgorithm::P256)?;
    let device = pki::self_signed(&device_key, "device", start())?;
    let mut ca = embedded_ca()?;
    let mut rows = p256_rows(&mut ca, &pool, &bounds)?;
    let (rsa, t_rsa_keygen, keys) = rsa_rows(&mut ca, &bounds)?;
    rows.extend(rsa);
    rows.extend(job_rows(&mut ca, &pool, &keys, &device)?);
    print_parts(
        &mut ca,
        &pool,
        &keys.made[0],
        &device,
        (t_rsa_keygen, bounds.t_ca_sign),
    )?;
    println!();
    for row in &rows {
        row.print();
    }
    println!();
    println!("| What | Command | Figure | Bound | Ratio |");
    println!("|------|---------|--------|-------|-------|");
    for row in &rows {
        println!("{}", row.markdown());
    }
    println!("load average at end: {}", load_average());
    write_figures(&rows, t_rsa_keygen, &bounds)
}

/// `target/bench-figures/crypto.json`: one run, each row held against its bound.
fn write_figures(rows: &[Row], t_rsa_keygen: f64, bounds: &Bounds) -> anyhow::Result<()> {
    let mut figures = record::Figures::new("crypto", BENCH_COMMAND);
    figures.notes.push(format!("One run on one thread, CPU time of the thread (`/proc/thread-self/schedstat`); bounds from `{SPEED_COMMAND}` (CPU time) in the same run and key generation timed in this process: RSA-2048 sign {:.0} µs, RSA-2048 key generation {:.0} ms (on keys of its own, not the ones the rows use). The key pool: the connector's `KeyPool` is filled by `KeyPool::fill`, which makes RSA-2048 keys one after another on the caller's thread, and an empty pool makes a key on demand; so sustained RSA-2048 issuance pays one key generation a certificate, and only the rows marked \"filled beforehand\" leave it out.", bounds.t_ca_sign * 1e6, t_rsa_keygen * 1e3));
    for row in rows {
        figures.rows.push(record::FigureRow {
            what: format!("{}, {}", row.what, row.count),
            unit: "/s".into(),
            samples: vec![row.per_second()],
            baselines: Vec::new(),
            target: row.bound.map(|b| record::Target {
                what: "bound (the operations it needs, measured in this run)".into(),
                value: b,
                at_most: true,
            }),
        });
    }
    figures.write()
}
