//! Runs work that falls due on an account's clock: deliveries, session
//! expiry, asynchronous settlement. In manual mode nothing runs until an
//! advance, which runs each task at its own virtual time, in order, and
//! waits for deliveries to finish. In real-time mode a background task per
//! account sleeps until the next task is due.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::account::{Account, AccountData, Delivery, Task};
use crate::clock::ClockMode;
use crate::events::delivery::{self, Outcome, Prepared};
use crate::server::Shared;
use crate::simulate;

/// How often an idle dispatcher checks that its account still exists.
const IDLE_CHECK: Duration = Duration::from_secs(5);

/// The background loop of one account. Ends when the account or the
/// server is dropped, or when the server stops.
pub async fn run(shared: Weak<Shared>, account: Weak<Account>) {
    loop {
        let (Some(shared_now), Some(account_now)) = (shared.upgrade(), account.upgrade()) else {
            return;
        };
        if shared_now.is_stopping() {
            return;
        }
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
        let mut stopping = shared_now.watch_stopping();
        drop(shared_now);
        // The strong handle lives only for this wait, which IDLE_CHECK
        // bounds, so a removed account's loop ends soon after.
        let notified = account_now.wake.notified();
        tokio::select! {
            _ = notified => {}
            _ = async { stopping.wait_for(|stopping| *stopping).await.is_ok() } => {}
            _ = tokio::time::sleep(wait.min(IDLE_CHECK)) => {}
        }
    }
}

/// The reason work that waited on a webhook endpoint stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The account was reset.
    Reset,
    /// The server is stopping.
    Stop,
}

/// Ends a wait on webhook endpoints early, when the account is reset or
/// the server stops.
#[derive(Clone)]
pub(crate) struct Interrupt {
    resets: tokio::sync::watch::Receiver<u64>,
    stopping: tokio::sync::watch::Receiver<bool>,
    /// The account's generation when the interrupt was made.
    generation: u64,
}

impl Interrupt {
    /// Watches the account that `data` belongs to. Taking `data` makes the
    /// caller hold the account lock, under which a reset publishes, so the
    /// generation read here and the receiver agree.
    pub(crate) fn new(shared: &Shared, account: &Account, data: &AccountData) -> Interrupt {
        Interrupt {
            resets: account.watch_resets(),
            stopping: shared.watch_stopping(),
            generation: data.generation,
        }
    }

    /// Returns whether `data` is still the state this interrupt started
    /// with and the server is not stopping, or else the cause.
    fn check(&self, data: &AccountData) -> Result<(), Cause> {
        if data.generation != self.generation {
            Err(Cause::Reset)
        } else if *self.stopping.borrow() {
            Err(Cause::Stop)
        } else {
            Ok(())
        }
    }

    /// Waits until the account is reset or the server stops.
    pub(crate) async fn wait(&mut self) -> Cause {
        let reset = async {
            match self.resets.changed().await {
                Ok(()) => Cause::Reset,
                // The account is gone, so no reset will come.
                Err(_) => std::future::pending().await,
            }
        };
        let stop = async {
            // `wait_for` returns a guard on the value, dropped here before
            // any other await.
            let stopped = self.stopping.wait_for(|stopping| *stopping).await.is_ok();
            if !stopped {
                // The server is gone, so no stop will come.
                std::future::pending::<()>().await;
            }
            Cause::Stop
        };
        tokio::select! {
            cause = reset => cause,
            cause = stop => cause,
        }
    }
}

/// Logs deliveries whose send `cause` cut off. Their outcome is recorded
/// nowhere: the account state they belong to was discarded, or the server
/// is stopping.
fn log_cut_off(sends: &[Prepared], cause: Cause) {
    let reason = match cause {
        Cause::Reset => "the account was reset",
        Cause::Stop => "the server is stopping",
    };
    for prepared in sends {
        tracing::info!(event = %prepared.event_id, endpoint = %prepared.endpoint_id, attempt = prepared.attempt, reason, "webhook delivery cut off");
    }
}

/// Deliveries of one account that real-time mode has taken off the
/// schedule, queued by endpoint. An endpoint has a queue while its sender
/// task runs, and the sender sends the queue's deliveries one after
/// another, so each endpoint gets its deliveries in schedule order.
#[derive(Debug, Default)]
pub struct Outbox {
    queues: HashMap<String, Queue>,
}

/// The deliveries queued for one endpoint, all prepared under one
/// generation of the account. A reset removes every queue, and a sender
/// that finds its endpoint's queue missing or of a later generation ends.
#[derive(Debug)]
struct Queue {
    generation: u64,
    deliveries: VecDeque<Prepared>,
}

/// Queues `prepared` behind its endpoint's earlier deliveries, and starts
/// the endpoint's sender if none runs.
fn enqueue(shared: &Arc<Shared>, account: &Arc<Account>, prepared: Prepared) {
    let mut outbox = account.outbox.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(queue) = outbox.queues.get_mut(&prepared.endpoint_id)
        && queue.generation == prepared.generation
    {
        queue.deliveries.push_back(prepared);
        return;
    }
    let endpoint = prepared.endpoint_id.clone();
    let generation = prepared.generation;
    let queue = Queue {
        generation,
        deliveries: VecDeque::from([prepared]),
    };
    outbox.queues.insert(endpoint.clone(), queue);
    tokio::spawn(send_queued(
        shared.clone(),
        account.clone(),
        endpoint,
        generation,
    ));
}

/// Takes the next delivery of the queue of `endpoint` and `generation`.
/// Removes the queue once it is empty, and returns `None` then or when a
/// reset has removed it.
fn next_queued(account: &Account, endpoint: &str, generation: u64) -> Option<Prepared> {
    let mut outbox = account.outbox.lock().unwrap_or_else(|p| p.into_inner());
    let queue = outbox
        .queues
        .get_mut(endpoint)
        .filter(|queue| queue.generation == generation)?;
    let next = queue.deliveries.pop_front();
    if next.is_none() {
        outbox.queues.remove(endpoint);
        if outbox.queues.is_empty() {
            account.outbox_empty.notify_waiters();
        }
    }
    next
}

/// Sends the queue of `endpoint` until it is empty, then removes it. A
/// reset or a stop cuts off the send in flight and ends the sender.
async fn send_queued(
    shared: Arc<Shared>,
    account: Arc<Account>,
    endpoint: String,
    generation: u64,
) {
    while let Some(prepared) = next_queued(&account, &endpoint, generation) {
        let (mut interrupt, accepted) = {
            let mut data = account.lock();
            let interrupt = Interrupt::new(&shared, &account, &data);
            // The endpoint may have been disabled or deleted while the
            // delivery waited in the queue.
            let accepted = prepared.generation == data.generation
                && !shared.is_stopping()
                && delivery::endpoint_accepts(
                    &mut data,
                    &prepared.event_id,
                    &prepared.endpoint_id,
                    prepared.attempt,
                );
            (interrupt, accepted)
        };
        if !accepted {
            continue;
        }
        let sending = shared.start_send();
        let outcome = tokio::select! {
            outcome = delivery::send(&shared.http, &prepared) => outcome,
            cause = interrupt.wait() => {
                log_cut_off(std::slice::from_ref(&prepared), cause);
                continue;
            }
        };
        drop(sending);
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
/// and returns how many. The senders of the queues end after the send they
/// have in flight, if any.
pub fn discard_queued(account: &Account) -> usize {
    let mut outbox = account.outbox.lock().unwrap_or_else(|p| p.into_inner());
    let queued = outbox
        .queues
        .values()
        .map(|queue| queue.deliveries.len())
        .sum();
    outbox.queues.clear();
    account.outbox_empty.notify_waiters();
    queued
}

/// Starts the account's state anew after a reset has replaced `data`:
/// raises its generation, drops what real-time mode queued, and cuts off
/// the sends and advances in flight. None of them waits for an endpoint, so
/// a reset returns at once. A send already under way may still reach its
/// endpoint, but its outcome is not recorded and schedules no retry.
pub fn start_generation(account: &Account, data: &mut AccountData, generation: u64) {
    data.generation = generation;
    discard_queued(account);
    // Published under the account lock, after the generation changed, so
    // a sender that checked the old generation is woken, and one that
    // checks later reads the new one.
    account.publish_reset(generation);
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

/// An advance that a reset or a stop ended before its target.
#[derive(Debug, Clone, Copy)]
pub struct Interrupted {
    pub cause: Cause,
    /// The tasks that ran before it ended.
    pub ran: usize,
}

/// Moves a manual clock forward by `seconds`, running each task that falls
/// due at its own virtual time and waiting for every delivery. Work that a
/// task schedules inside the window (a retry, a settlement) runs too.
/// In real-time mode it first waits for the deliveries already taken off
/// the schedule, so time order holds. It then jumps the clock forward the
/// same way and sends each instant's deliveries to the endpoints in parallel.
/// Returns the number of tasks that ran. A reset of the account or a stop
/// of the server ends it where it is, cutting off the sends in flight.
pub async fn advance(
    shared: &Arc<Shared>,
    account: &Arc<Account>,
    seconds: i64,
) -> Result<usize, Interrupted> {
    let real_time = matches!(account.lock().clock.mode(), ClockMode::RealTime { .. });
    if real_time {
        return advance_real_time(shared, account, seconds).await;
    }
    let _runner = account.runner.lock().await;
    let mut interrupt = Interrupt::new(shared, account, &account.lock());
    let mut ran = 0;
    tokio::select! {
        () = outbox_drained(account) => {}
        cause = interrupt.wait() => return Err(Interrupted { cause, ran }),
    }
    let target = account.lock().now() + seconds.max(0);
    loop {
        let (due, batch) = {
            let mut data = account.lock();
            interrupt
                .check(&data)
                .map_err(|cause| Interrupted { cause, ran })?;
            let Some((due, task)) = data.pop_due(target) else {
                if target > data.now() {
                    data.clock.set_now(target);
                }
                return Ok(ran);
            };
            if due > data.now() {
                data.clock.set_now(due);
            }
            let Task::Deliver(first) = task else {
                ran += 1;
                start_task(&mut data, due, task);
                continue;
            };
            let mut batch = vec![*first];
            while let Some(next) = data.pop_delivery_due_at(due) {
                batch.push(*next);
            }
            (due, batch)
        };
        deliver_instant(shared, account, &mut interrupt, due, batch, &mut ran)
            .await
            .map_err(|cause| Interrupted { cause, ran })?;
    }
}

/// Sends the deliveries that fall due at one instant of a manual advance,
/// in schedule order. Deliveries to one endpoint go one after another,
/// each prepared just before it is sent, so the app's response to one comes
/// before the next is built. When the instant has deliveries for several
/// endpoints, all are prepared first, in schedule order, so fault
/// decisions and ids follow the seed. Each endpoint then receives its own
/// in parallel, so an endpoint that hangs delays the others only at later
/// instants. The outcomes are recorded in schedule order once every send
/// has a response or has timed out. Adds the deliveries it prepared to
/// `ran`.
async fn deliver_instant(
    shared: &Arc<Shared>,
    account: &Arc<Account>,
    interrupt: &mut Interrupt,
    due: i64,
    batch: Vec<Delivery>,
    ran: &mut usize,
) -> Result<(), Cause> {
    let one_endpoint = batch
        .windows(2)
        .all(|pair| pair[0].endpoint_id == pair[1].endpoint_id);
    if one_endpoint {
        for delivery in batch {
            let sends = {
                let mut data = account.lock();
                interrupt.check(&data)?;
                *ran += 1;
                prepare_sends(&mut data, due, delivery)
            };
            let Some(sends) = sends else { continue };
            tokio::select! {
                () = run_delivery(shared, account, &sends) => {}
                cause = interrupt.wait() => {
                    log_cut_off(&sends, cause);
                    return Err(cause);
                }
            }
        }
        return Ok(());
    }
    // Each task's sends in schedule order, and each endpoint's queue as
    // positions in that order.
    let mut tasks: Vec<Vec<Prepared>> = Vec::new();
    let mut queues: Vec<(String, Vec<usize>)> = Vec::new();
    {
        let mut data = account.lock();
        interrupt.check(&data)?;
        *ran += batch.len();
        for delivery in batch {
            let endpoint = delivery.endpoint_id.clone();
            let Some(sends) = prepare_sends(&mut data, due, delivery) else {
                continue;
            };
            tasks.push(sends);
            let position = tasks.len() - 1;
            match queues.iter_mut().find(|(id, _)| *id == endpoint) {
                Some((_, queue)) => queue.push(position),
                None => queues.push((endpoint, vec![position])),
            }
        }
    }
    let tasks = &tasks;
    let senders = queues.into_iter().map(|(_, queue)| {
        let mut interrupt = interrupt.clone();
        async move {
            let mut outcomes = Vec::with_capacity(queue.len());
            for (sent, &position) in queue.iter().enumerate() {
                tokio::select! {
                    outcome = send_delivery(shared, account, &tasks[position]) => {
                        outcomes.push((position, outcome));
                    }
                    cause = interrupt.wait() => {
                        for &position in &queue[sent..] {
                            log_cut_off(&tasks[position], cause);
                        }
                        return Err(cause);
                    }
                }
            }
            Ok(outcomes)
        }
    });
    let mut outcomes = Vec::with_capacity(tasks.len());
    for queue in futures_util::future::join_all(senders).await {
        outcomes.extend(queue?);
    }
    // Recorded in schedule order, whichever endpoint responded first, so
    // the delivery log, the trace and the retries follow the seed.
    outcomes.sort_by_key(|(position, _)| *position);
    let mut data = account.lock();
    interrupt.check(&data)?;
    for (position, outcome) in outcomes {
        record_outcomes(shared, &mut data, &tasks[position], outcome);
    }
    Ok(())
}

/// Prepares the sends of one delivery task: the delivery and the
/// concurrent copies a fault adds to it. Returns `None` when nothing is
/// sent, such as for a disabled endpoint or a held event.
fn prepare_sends(data: &mut AccountData, due: i64, delivery: Delivery) -> Option<Vec<Prepared>> {
    let prepared = start_task(data, due, Task::Deliver(Box::new(delivery)))?;
    let copies = crate::faults::concurrent_copies(data, &prepared);
    let mut sends = vec![prepared];
    sends.extend(copies);
    Some(sends)
}

/// Advances a real-time clock by `seconds`, one due instant at a time. The
/// tasks due at an instant run and their deliveries join the endpoints'
/// queues. The next instant waits until the queues are empty, so an app
/// that reads the API while handling an event gets the state of the
/// event's time. Within an instant the endpoints receive in parallel, so
/// a slow endpoint delays the others only at the next instant. The
/// background dispatcher keeps sending what falls due at the clock's
/// current time, such as the events of a payment made during the advance.
async fn advance_real_time(
    shared: &Arc<Shared>,
    account: &Arc<Account>,
    seconds: i64,
) -> Result<usize, Interrupted> {
    let mut interrupt = Interrupt::new(shared, account, &account.lock());
    let mut ran = 0;
    tokio::select! {
        () = outbox_drained(account) => {}
        cause = interrupt.wait() => return Err(Interrupted { cause, ran }),
    }
    let target = account.lock().now() + seconds.max(0);
    let mut copies = Vec::new();
    loop {
        {
            let _runner = account.runner.lock().await;
            let mut data = account.lock();
            interrupt
                .check(&data)
                .map_err(|cause| Interrupted { cause, ran })?;
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
        tokio::select! {
            () = outbox_drained(account) => {}
            cause = interrupt.wait() => return Err(Interrupted { cause, ran }),
        }
    }
    for copy in copies {
        // The copies end on a reset or a stop by themselves, and a copy
        // that panicked has nothing left to record.
        let _ = copy.await;
    }
    let mut data = account.lock();
    interrupt
        .check(&data)
        .map_err(|cause| Interrupted { cause, ran })?;
    if target > data.now() {
        data.clock.set_now(target);
    }
    Ok(ran)
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
        let mut interrupt = {
            let data = account.lock();
            let interrupt = Interrupt::new(&shared, &account, &data);
            let current = copies
                .first()
                .is_some_and(|copy| copy.generation == data.generation);
            if !current || shared.is_stopping() {
                return;
            }
            interrupt
        };
        // The burst counts until its outcomes are recorded, so the
        // account's API requests wait out `BURST_API_DELAY` meanwhile.
        let burst = account.start_burst();
        let _sending = shared.start_send();
        let sent = delivery::send_together(&shared.http, &copies, shared.config.delivery_timeout);
        let outcomes = tokio::select! {
            outcomes = sent => outcomes,
            cause = interrupt.wait() => {
                log_cut_off(&copies, cause);
                return;
            }
        };
        let mut data = account.lock();
        for (copy, outcome) in copies.iter().zip(outcomes) {
            delivery::complete(&mut data, copy, &outcome, &shared.config.retry_schedule);
        }
        drop(data);
        drop(burst);
    })
}

/// Sends one delivery, or a burst of copies that reach the endpoint
/// together, and records the outcomes.
async fn run_delivery(shared: &Shared, account: &Account, sends: &[Prepared]) {
    let outcomes = send_delivery(shared, account, sends).await;
    record_outcomes(shared, &mut account.lock(), sends, outcomes);
}

/// Sends one delivery, or a burst of copies that reach the endpoint
/// together, and returns the outcomes.
async fn send_delivery(shared: &Shared, account: &Account, sends: &[Prepared]) -> Vec<Outcome> {
    let _sending = shared.start_send();
    if let [single] = sends {
        vec![delivery::send(&shared.http, single).await]
    } else {
        let _burst = account.start_burst();
        delivery::send_together(&shared.http, sends, shared.config.delivery_timeout).await
    }
}

/// Records the outcomes of `sends` in the delivery log and the trace, and
/// schedules the retries of the failures.
fn record_outcomes(
    shared: &Shared,
    data: &mut AccountData,
    sends: &[Prepared],
    outcomes: Vec<Outcome>,
) {
    for (prepared, outcome) in sends.iter().zip(outcomes) {
        delivery::complete(data, prepared, &outcome, &shared.config.retry_schedule);
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
