//! The current signed link of every file, and the one way to renew them:
//! fetch the task again. Refreshes are single-flight, so when nine transfers
//! are refused together the API sees one request, not nine.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::api::ApiClient;
use crate::assets;
use crate::error::{Error, Result};
use crate::events::{Event, Observer};
use crate::hosts::HostRules;
use crate::link::SignedLink;
use crate::output_role::OutputRole;
use crate::task::TraceId;
use crate::task::{Task, TaskStatus};

/// A link, and which generation of task answer it came from.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    pub link: SignedLink,
    pub generation: u64,
    /// The trace id of the task answer that handed out the link: what
    /// support asks for when the CDN will not serve it.
    pub trace: TraceId,
}

#[derive(Debug)]
struct Generation {
    number: u64,
    links: HashMap<OutputRole, SignedLink>,
    trace: TraceId,
}

/// The links of one task, renewed together.
pub(crate) struct LinkBook {
    api: ApiClient,
    task_id: String,
    /// Where a renewed link may point.
    hosts: HostRules,
    observer: Arc<dyn Observer>,
    current: Mutex<Generation>,
    /// Held while a refresh is in flight; whoever waited for it then finds
    /// the generation moved on and takes the new link without asking again.
    refreshing: tokio::sync::Mutex<()>,
}

impl LinkBook {
    /// The links of `task`, renewed by asking for `task_id`: the id the
    /// caller asked for (and checked), never the one an answer carries.
    pub(crate) fn new(
        api: ApiClient,
        task_id: &str,
        task: &Task,
        hosts: HostRules,
        observer: Arc<dyn Observer>,
    ) -> LinkBook {
        LinkBook {
            api,
            task_id: task_id.to_owned(),
            hosts,
            observer,
            current: Mutex::new(Generation {
                number: 0,
                links: links_of(task, hosts),
                trace: task.trace_id.clone(),
            }),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The newest link for a role; `None` when the newest answer has no
    /// usable link for it.
    pub(crate) fn current(&self, role: &OutputRole) -> Option<Lease> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.links.get(role).map(|link| Lease {
            link: link.clone(),
            generation: current.number,
            trace: current.trace.clone(),
        })
    }

    /// A link newer than the `stale` generation: from a refresh someone else
    /// just made, or from fetching the task again now. `None` when the new
    /// answer has no usable link for the role.
    pub(crate) async fn refresh(&self, role: &OutputRole, stale: u64) -> Result<Option<Lease>> {
        let _only_one = self.refreshing.lock().await;
        if self.generation() > stale {
            return Ok(self.current(role));
        }
        let task = self.api.task(&self.task_id, &self.observer).await?;
        if task.status != TaskStatus::Success {
            return Err(Error::TaskEnded {
                task_id: self.task_id.clone(),
                status: task.status.clone(),
                while_downloading: true,
                error_code: task.error_code,
                message: task.error_message.clone(),
                trace: task.trace_id.clone(),
            });
        }
        {
            let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
            current.number += 1;
            current.links = links_of(&task, self.hosts);
            current.trace = task.trace_id.clone();
        }
        self.observer.event(&Event::LinksRefreshed {
            trace_id: task.trace_id,
        });
        Ok(self.current(role))
    }

    fn generation(&self) -> u64 {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .number
    }
}

/// Every role's link in a task answer, aliases included; links that are
/// not usable ([`crate::assets::Asset::usable_link`]) are left out (the plan
/// reports them; a renewed one ends its file).
fn links_of(task: &Task, hosts: HostRules) -> HashMap<OutputRole, SignedLink> {
    let mut links = HashMap::new();
    for asset in assets::plan(&task.output) {
        let Ok(url) = asset.usable_link(hosts) else {
            continue;
        };
        let signed = SignedLink::new(url.clone(), task.received_at);
        for role in std::iter::once(asset.role).chain(asset.aliases) {
            links.insert(role, signed.clone());
        }
    }
    links
}
