//! The service's webhook, as a sender: a delivery built from the scenario's
//! final task (links freshly signed, as the service sends them), signed per
//! the scheme (`Tripo-Webhook-Signature: t=<unix>,v1=<hex>`, HMAC-SHA256 of
//! `"<t>.<raw body>"` keyed with the whole `whsec_…` secret), and POSTed
//! over a plain HTTP/1.1 connection, so a test can also send what the real
//! service never would: another secret, an old or future time, two `v1`s,
//! a body too large or not JSON.
//!
//! ```no_run
//! # let fake = fake_tripo::FakeTripo::start(fake_tripo::Scenario::new("v3_all_outputs"));
//! # let listener: std::net::SocketAddr = "127.0.0.1:8787".parse().unwrap();
//! use fake_tripo::Delivery;
//! let answer = fake.deliver(listener, &Delivery::completed("whsec_test"));
//! assert_eq!(answer.status, 202);
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::FakeTripo;
use crate::api::sign_links;
use crate::links;
use crate::state::task_of;
use crate::stats::DeliverySent;

/// One delivery to send; build it, then [`FakeTripo::deliver`] it (as many
/// times as a test likes: each send carries the same delivery id, as the
/// service's retries do).
#[derive(Clone, Debug)]
pub struct Delivery {
    event_type: String,
    secrets: Vec<String>,
    delivery_id: String,
    signed_offset: i64,
    dead_links: bool,
    body: Option<Vec<u8>>,
    signature: Option<Option<String>>,
    path: String,
    task_id: Option<String>,
}

impl Delivery {
    /// `task.completed` for the scenario's task, signed with `secret`.
    pub fn completed(secret: &str) -> Delivery {
        Delivery::event("task.completed", secret)
    }

    /// `task.failed` for the scenario's task (use a fixture whose task failed).
    pub fn failed(secret: &str) -> Delivery {
        Delivery::event("task.failed", secret)
    }

    /// Any event type, with the scenario's task as `data`.
    pub fn event(event_type: &str, secret: &str) -> Delivery {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Delivery {
            event_type: event_type.to_owned(),
            secrets: vec![secret.to_owned()],
            delivery_id: format!("dlv_{:06}", NEXT.fetch_add(1, Ordering::Relaxed)),
            signed_offset: 0,
            dead_links: false,
            body: None,
            signature: None,
            path: "/webhooks/tripo".to_owned(),
            task_id: None,
        }
    }

    /// The `Tripo-Webhook-Delivery` id (default: a new one per `Delivery`).
    pub fn delivery_id(mut self, id: &str) -> Self {
        self.delivery_id = id.to_owned();
        self
    }

    /// Also signs with `secret`: a second `v1`, as while a secret rotates
    /// (the first secret's `v1` comes first).
    pub fn also_signed_with(mut self, secret: &str) -> Self {
        self.secrets.push(secret.to_owned());
        self
    }

    /// Signs with a time `seconds` from now (negative: in the past).
    pub fn signed_at_offset(mut self, seconds: i64) -> Self {
        self.signed_offset = seconds;
        self
    }

    /// Links that are already dead when the delivery arrives (the CDN refuses
    /// them): the receiver must renew them through the API.
    pub fn dead_links(mut self) -> Self {
        self.dead_links = true;
        self
    }

    /// Sends these bytes as the body instead of the event (still signed).
    pub fn raw_body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }

    /// Sends this `Tripo-Webhook-Signature` as it is, or none at all.
    pub fn signature_header(mut self, header: Option<&str>) -> Self {
        self.signature = Some(header.map(str::to_owned));
        self
    }

    /// Names another task (`data.task_id`), with the scenario's task's
    /// outputs and links: many tasks' deliveries from one scenario.
    pub fn for_task(mut self, task_id: &str) -> Self {
        self.task_id = Some(task_id.to_owned());
        self
    }

    /// The request path (default `/webhooks/tripo`).
    pub fn path(mut self, path: &str) -> Self {
        self.path = path.to_owned();
        self
    }
}

/// What the receiver answered.
#[derive(Clone, Debug)]
pub struct WebhookAnswer {
    /// The HTTP status (0 when the connection closed without an answer).
    pub status: u16,
    /// The body, as text.
    pub body: String,
}

impl FakeTripo {
    /// Builds, signs and POSTs `delivery` to `to`; returns the answer.
    pub fn deliver(&self, to: SocketAddr, delivery: &Delivery) -> WebhookAnswer {
        let body = match &delivery.body {
            Some(body) => body.clone(),
            None => self.event_body(delivery),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let t = now + delivery.signed_offset;
        let signature = match &delivery.signature {
            Some(header) => header.clone(),
            None => {
                let v1s: Vec<String> = delivery
                    .secrets
                    .iter()
                    .map(|secret| format!("v1={}", sign(secret, t, &body)))
                    .collect();
                Some(format!("t={t},{}", v1s.join(",")))
            }
        };
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {to}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nTripo-Webhook-Id: {}\r\nTripo-Webhook-Delivery: {}\r\nTripo-Webhook-Event: {}\r\n",
            delivery.path,
            body.len(),
            self.event_id(delivery),
            delivery.delivery_id,
            delivery.event_type,
        );
        if let Some(signature) = signature {
            head.push_str(&format!("Tripo-Webhook-Signature: {signature}\r\n"));
        }
        head.push_str("\r\n");
        let sent_at = self.shared.started.elapsed();
        let answer = post(to, head.into_bytes(), body);
        self.shared.lock().stats.deliveries.push(DeliverySent {
            sent_at,
            answered_at: self.shared.started.elapsed(),
            status: answer.status,
        });
        answer
    }

    /// The event body a delivery carries: `{"id","type","created_at","data"}`.
    fn event_body(&self, delivery: &Delivery) -> Vec<u8> {
        let shared = &self.shared;
        let own = shared.own_task();
        let mut task = task_of(&own.final_answer, own.shape)
            .cloned()
            .unwrap_or_else(|| json!({}));
        let lifetime = if delivery.dead_links {
            Duration::ZERO
        } else {
            shared.link_lifetime
        };
        sign_links(
            shared,
            &mut shared.lock(),
            &own.task_id,
            &mut task,
            lifetime,
        );
        if let (Some(task_id), Some(fields)) = (&delivery.task_id, task.as_object_mut()) {
            fields.insert("task_id".to_owned(), json!(task_id));
        }
        let event = json!({
            "id": self.event_id(delivery),
            "type": delivery.event_type,
            "created_at": rfc3339(SystemTime::now()),
            "data": task,
        });
        serde_json::to_vec(&event).unwrap_or_else(|e| panic!("fake-tripo: an event: {e}"))
    }

    fn event_id(&self, delivery: &Delivery) -> String {
        format!("{}:{}", self.shared.task_id, delivery.event_type)
    }
}

/// The `v1` of the scheme, in hex.
fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One request on a connection of its own. The body is written from a
/// second thread while this one reads, so a receiver that answers early
/// (413 before reading the body) is heard rather than deadlocked.
fn post(to: SocketAddr, head: Vec<u8>, body: Vec<u8>) -> WebhookAnswer {
    let mut stream = TcpStream::connect_timeout(&to, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("fake-tripo: cannot reach the receiver at {to}: {e}"));
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = stream
        .try_clone()
        .unwrap_or_else(|e| panic!("fake-tripo: cannot clone a socket: {e}"));
    let sending = std::thread::spawn(move || {
        let _ = writer
            .write_all(&head)
            .and_then(|()| writer.write_all(&body));
    });
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            // A reset after the answer arrived: the answer stands.
            Err(_) => break,
        }
    }
    let _ = sending.join();
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    WebhookAnswer { status, body }
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let date = links::yyyymmdd(at);
    let day = secs % 86_400;
    format!(
        "{}-{}-{}T{:02}:{:02}:{:02}Z",
        &date[..4],
        &date[4..6],
        &date[6..],
        day / 3600,
        day % 3600 / 60,
        day % 60
    )
}
