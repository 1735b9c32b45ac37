//! Runs work that falls due on an account's clock: deliveries, session
//! expiry, asynchronous settlement. In manual mode nothing runs until an
//! advance, which runs each task at its own virtual time, in order, and
//! waits for deliveries to finish. In real-time mode a background task per
//! account sleeps until the next task is due.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::account::{Account, Task};
use crate::clock::ClockMode;
use crate::events::delivery::{self, Prepared};
use crate::server::Shared;
use crate::simulate;

/// How often an idle dispatcher checks that its account still exists.
const IDLE_CHECK: Duration = Duration::from_secs(5);

/// The background loop of one account. Ends when the account or the
/// server is dropped.
pub async fn run(shared: Weak<Shared>, account: Weak<Account>) {
    loop {
        let (Some(shared_now), Some(account_now)) = (shared.upgrade(), account.upgrade()) else {
            return;
        };
        let wait = {
            let data = account_now.lock();
            match (data.clock.mode(), data.next_due()) {
                (ClockMode::Manual, _) | (_, None) => IDLE_CHECK,
                (ClockMode::RealTime { .. }, Some(at)) => {
                    data.clock.real_wait_until(at).unwrap_or(IDLE_CHECK)
                }
            }
        };
        if wait.is_zero() {
            run_due_concurrently(&shared_now, &account_now).await;
            continue;
        }
        drop(shared_now);
        // The strong handle lives only for this wait, which IDLE_CHECK
        // bounds, so a removed account's loop ends soon after.
        let notified = account_now.wake.notified();
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(wait.min(IDLE_CHECK)) => {}
        }
    }
}

/// Deliveries of one account that real-time mode has taken off the
/// schedule, queued by endpoint. An endpoint has a queue while its sender
/// task runs, and the sender sends the queue's deliveries one after
/// another, so each endpoint gets its deliveries in schedule order.
#[derive(Debug, Default)]
pub struct Outbox {
    queues: HashMap<String, VecDeque<Prepared>>,
}

/// Queues `prepared` behind its endpoint's earlier deliveries, and starts
/// the endpoint's sender if none runs.
fn enqueue(shared: &Arc<Shared>, account: &Arc<Account>, prepared: Prepared) {
    let mut outbox = account.outbox.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(queue) = outbox.queues.get_mut(&prepared.endpoint_id) {
        queue.push_back(prepared);
        return;
    }
    let endpoint = prepared.endpoint_id.clone();
    outbox
        .queues
        .insert(endpoint.clone(), VecDeque::from([prepared]));
    tokio::spawn(send_queued(shared.clone(), account.clone(), endpoint));
}

/// Sends the queue of `endpoint` until it is empty, then removes it.
async fn send_queued(shared: Arc<Shared>, account: Arc<Account>, endpoint: String) {
    loop {
        let next = {
            let mut outbox = account.outbox.lock().unwrap_or_else(|p| p.into_inner());
            let next = outbox
                .queues
                .get_mut(&endpoint)
                .and_then(VecDeque::pop_front);
            if next.is_none() {
                outbox.queues.remove(&endpoint);
                if outbox.queues.is_empty() {
                    account.outbox_empty.notify_waiters();
                }
            }
            next
        };
        let Some(prepared) = next else {
            return;
        };
        // The endpoint may have been disabled or deleted while the
        // delivery waited in the queue.
        let accepted = delivery::endpoint_accepts(
            &mut account.lock(),
            &prepared.event_id,
            &prepared.endpoint_id,
            prepared.attempt,
        );
        if !accepted {
            continue;
        }
        let outcome = delivery::send(&shared.http, &prepared).await;
        let mut data = account.lock();
        delivery::complete(
            &mut data,
            &prepared,
            &outcome,
            &shared.config.retry_schedule,
        );
        drop(data);
        account.wake.notify_one();
    }
}

/// Waits until real-time mode has sent every delivery it took off the
/// schedule.
async fn outbox_drained(account: &Account) {
    loop {
        let notified = account.outbox_empty.notified();
        tokio::pin!(notified);
        // Registered before the check, so an emptying in between wakes it.
        notified.as_mut().enable();
        let empty = account
            .outbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .queues
            .is_empty();
        if empty {
            return;
        }
        notified.await;
    }
}

/// Drops the deliveries that real-time mode has queued and not yet sent,
/// then waits until the sends already under way, concurrent copies
/// included, are recorded. An in-flight send can take up to the delivery
/// timeout. The caller has locked `runner`, so nothing new joins the queues.
pub async fn discard_outbox(account: &Account) {
    {
        let mut outbox = account.outbox.lock().unwrap_or_else(|p| p.into_inner());
        // Each sender removes its emptied queue itself, which is what
        // `outbox_drained` waits for.
        for queue in outbox.queues.values_mut() {
            queue.clear();
        }
    }
    outbox_drained(account).await;
    // A burst counts until its outcomes are recorded. Bursts are rare and
    // short, so polling is cheaper than another notifier.
    while account.bursts.load(std::sync::atomic::Ordering::SeqCst) > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs everything due now in real-time mode. Deliveries to different
/// endpoints go out in parallel, so an endpoint that hangs does not hold up
/// the others; deliveries to one endpoint keep their order, also across
/// runs.
async fn run_due_concurrently(shared: &Arc<Shared>, account: &Arc<Account>) {
    let _runner = account.runner.lock().await;
    let mut data = account.lock();
    let now = data.now();
    while let Some((due, task)) = data.pop_due(now) {
        if let Some(prepared) = start_task(&mut data, due, task) {
            let copies = crate::faults::concurrent_copies(&mut data, &prepared);
            enqueue(shared, account, prepared);
            // Concurrent copies go out at once, outside the endpoint's queue.
            if !copies.is_empty() {
                spawn_copies(shared, account, copies);
            }
        }
    }
}

/// Moves a manual clock forward by `seconds`, running each task that falls
/// due at its own virtual time and waiting for every delivery. Work that a
/// task schedules inside the window (a retry, a settlement) runs too.
/// In real-time mode it first waits for the deliveries already taken off
/// the schedule, so time order holds. It then jumps the clock forward the
/// same way and sends each instant's deliveries to the endpoints in parallel.
pub async fn advance(shared: &Arc<Shared>, account: &Arc<Account>, seconds: i64) -> usize {
    let real_time = matches!(account.lock().clock.mode(), ClockMode::RealTime { .. });
    if real_time {
        return advance_real_time(shared, account, seconds).await;
    }
    let _runner = account.runner.lock().await;
    outbox_drained(account).await;
    let target = account.lock().now() + seconds.max(0);
    let mut ran = 0;
    loop {
        let step = {
            let mut data = account.lock();
            let Some((due, task)) = data.pop_due(target) else {
                break;
            };
            if due > data.now() {
                data.clock.set_now(due);
            }
            ran += 1;
            start_task(&mut data, due, task)
        };
        if let Some(prepared) = step {
            run_delivery(shared, account, prepared).await;
        }
    }
    let mut data = account.lock();
    if target > data.now() {
        data.clock.set_now(target);
    }
    ran
}

/// Advances a real-time clock by `seconds`, one due instant at a time. The
/// tasks due at an instant run and their deliveries join the endpoints'
/// queues. The next instant waits until the queues are empty, so an app
/// that reads the API while handling an event gets the state of the
/// event's time. Within an instant the endpoints receive in parallel, so
/// a slow endpoint delays the others only at the next instant. The
/// background dispatcher keeps sending what falls due at the clock's
/// current time, such as the events of a payment made during the advance.
async fn advance_real_time(shared: &Arc<Shared>, account: &Arc<Account>, seconds: i64) -> usize {
    outbox_drained(account).await;
    let target = account.lock().now() + seconds.max(0);
    let mut ran = 0;
    let mut copies = Vec::new();
    loop {
        {
            let _runner = account.runner.lock().await;
            let mut data = account.lock();
            let Some(at) = data.next_due().filter(|at| *at <= target) else {
                break;
            };
            if at > data.now() {
                data.clock.set_now(at);
            }
            while let Some((due, task)) = data.pop_due(at) {
                ran += 1;
                let Some(prepared) = start_task(&mut data, due, task) else {
                    continue;
                };
                let burst = crate::faults::concurrent_copies(&mut data, &prepared);
                if !burst.is_empty() {
                    copies.push(spawn_copies(shared, account, burst));
                }
                enqueue(shared, account, prepared);
            }
        }
        // A delivery that fails schedules its retry, which runs too when it
        // falls inside the window.
        outbox_drained(account).await;
    }
    for copy in copies {
        // A copy that panicked has nothing left to record.
        let _ = copy.await;
    }
    let mut data = account.lock();
    if target > data.now() {
        data.clock.set_now(target);
    }
    ran
}

/// Sends the concurrent copies of a delivery together, outside their
/// endpoint's queue, and records their outcomes.
fn spawn_copies(
    shared: &Arc<Shared>,
    account: &Arc<Account>,
    copies: Vec<Prepared>,
) -> tokio::task::JoinHandle<()> {
    let shared = shared.clone();
    let account = account.clone();
    tokio::spawn(async move {
        // The burst counts until its outcomes are recorded, so a reset
        // that waits for it finds them in the old state.
        let burst = account.start_burst();
        let outcomes =
            delivery::send_together(&shared.http, &copies, shared.config.delivery_timeout).await;
        let mut data = account.lock();
        for (copy, outcome) in copies.iter().zip(outcomes) {
            delivery::complete(&mut data, copy, &outcome, &shared.config.retry_schedule);
        }
        drop(data);
        drop(burst);
    })
}

/// Sends one prepared delivery, or a burst of copies that reach the
/// endpoint together when the fault plan has concurrent duplicates,
/// and records the outcomes.
async fn run_delivery(shared: &Shared, account: &Account, prepared: Prepared) {
    let burst = {
        let mut data = account.lock();
        crate::faults::concurrent_copies(&mut data, &prepared)
    };
    let mut sends = vec![prepared];
    sends.extend(burst);
    let outcomes = if sends.len() == 1 {
        vec![delivery::send(&shared.http, &sends[0]).await]
    } else {
        let _burst = account.start_burst();
        delivery::send_together(&shared.http, &sends, shared.config.delivery_timeout).await
    };
    let mut data = account.lock();
    for (prepared, outcome) in sends.iter().zip(outcomes) {
        delivery::complete(&mut data, prepared, &outcome, &shared.config.retry_schedule);
    }
}

/// Runs the synchronous part of a task. Returns a delivery to send, if the
/// task is one.
fn start_task(data: &mut crate::account::AccountData, due: i64, task: Task) -> Option<Prepared> {
    match task {
        Task::Deliver(delivery) => crate::faults::prepare_attempt(
            data,
            &delivery.event_id,
            &delivery.endpoint_id,
            delivery.attempt,
            due,
            delivery.variant,
        ),
        Task::RewriteMetadata { payment_intent } => {
            crate::faults::rewrite_metadata(data, &payment_intent.to_string());
            None
        }
        Task::ExpireSession { session_id } => {
            simulate::expire_on_schedule(data, &session_id.to_string());
            None
        }
        Task::ExpireAuthorization { payment_intent } => {
            simulate::expire_authorization(data, &payment_intent.to_string());
            None
        }
        Task::SettleAsync {
            session_id,
            succeed,
        } => {
            simulate::settle(data, &session_id.to_string(), succeed);
            None
        }
        Task::EndLag { session_id } => {
            crate::faults::end_lag(data, &session_id.to_string());
            None
        }
    }
}

/// Lets tests and the control API prepare a delivery outside the schedule.
pub fn prepare(
    data: &crate::account::AccountData,
    event_id: &str,
    endpoint_id: &str,
    attempt: u32,
    due: i64,
) -> Option<Prepared> {
    delivery::prepare(data, event_id, endpoint_id, attempt, due)
}
