//! The store's conformance suite: every test is written once against
//! `dyn Store` and runs on each backend (a fresh database per test), so
//! SQLite and PostgreSQL keep exactly the same semantics.

#[macro_use]
mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use arsgate::domain::{
    Admission, AdmitCall, ApiKey, ApiKeyId, Delivery, DeliveryState, EventId, Evidence, Finish,
    LeaseTerms, LimitScope, LimitUsage, Merchant, MerchantId, MerchantSettings, Mode, NewDelivery,
    NewVerification, PhoneNumber, Timestamp, Verification, VerificationFilter, VerificationId,
    VerificationState,
};
use arsgate::scenario::{Language, Outcome};
use arsgate::store::{CheckRecorded, IdempotentResponse, Store, StoreError};
use common::store::{TestDb, new_verification};
use serde_json::json;

on_every_store!(
    node_drains_are_kept_until_resumed,
    merchants_round_trip_and_names_are_unique,
    api_keys_round_trip,
    operators_list_merchants_and_keys_and_revoke_keys,
    verifications_round_trip_every_field,
    reads_never_cross_merchants,
    transitions_are_guarded,
    finish_applies_from_every_live_state,
    finish_erases_the_birthdate_digest,
    concurrent_finishes_have_one_winner,
    finish_queues_its_webhook_with_it_and_only_once,
    modes_are_kept_apart_in_listings_and_usage,
    checks_count_until_locked,
    concurrent_checks_never_count_past_the_limit,
    concurrent_matches_approve_once_and_lock_nothing,
    the_code_heard_is_recorded_once,
    evidence_round_trips,
    pins_round_trip,
    pins_are_kept_per_mode,
    idempotency_keys_are_kept_per_mode,
    deliveries_are_kept_per_mode,
    idempotency_keys_keep_the_first_response,
    idempotency_claims_run_until_saved_released_or_abandoned,
    concurrent_idempotent_claims_have_one_winner,
    claims_take_due_pending_deliveries_and_lease_them,
    concurrent_claims_never_share_a_delivery,
    failed_attempts_are_counted_and_dead_letters_stay_put,
    delivered_deliveries_are_done,
    redeliver_requeues_dead_and_delivered,
    verification_pages_are_stable_with_equal_timestamps,
    verification_filters_combine,
    delivery_pages_are_stable_with_equal_timestamps,
    foreign_cursors_are_refused,
    usage_counts_billable_calls_and_answered_time,
    unfinished_lists_every_live_verification,
    pending_before_lists_the_old_pending_ones_only,
    live_calls_are_the_calls_of_unfinished_verifications,
    data_survives_reopening,
    concurrent_opens_of_a_new_database_agree,
    urls_open_the_same_database,
    corrupt_rows_name_their_column,
    rows_stored_before_modes_migrate_to_theirs,
    a_newer_additive_schema_is_run_on,
    a_newer_incompatible_schema_is_refused_by_name,
    leases_stop_at_max_channels_and_expire,
    concurrent_leases_never_pass_max_channels,
    admissions_keep_velocity_and_daily_cap,
    an_admission_stores_its_verification_or_nothing,
    concurrent_admissions_never_pass_a_limit,
    finishing_releases_the_verifications_lease,
);

/// An instant well inside any range the tests use.
const T0: i64 = 1_795_000_000_000;

fn at(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset_ms)
}

async fn merchant(store: &dyn Store, name: &str) -> Merchant {
    store
        .create_merchant(name, "whsec_test", &MerchantSettings::default())
        .await
        .expect("merchant created")
}

async fn verification(
    store: &dyn Store,
    merchant: MerchantId,
    created_at: Timestamp,
) -> Verification {
    store
        .create_verification(&new_verification(merchant, "read_code", created_at))
        .await
        .expect("verification created")
}

fn finish(outcome: Outcome, finished_at: Timestamp) -> Finish {
    Finish {
        outcome,
        reason: format!("the call ended: {outcome}"),
        timeline: json!([{ "at": finished_at.to_string(), "event": "hangup" }]),
        finished_at,
    }
}

fn delivery(v: &Verification, created_at: Timestamp) -> NewDelivery {
    NewDelivery {
        id: EventId::new(),
        merchant_id: v.request.merchant_id,
        verification_id: v.id(),
        url: "https://merchant.example/hooks".to_owned(),
        event_type: "verification.finished".to_owned(),
        payload: format!(r#"{{"id":"{}"}}"#, v.id()),
        created_at,
    }
}

async fn enqueue(store: &dyn Store, v: &Verification, created_at: Timestamp) -> NewDelivery {
    let new = delivery(v, created_at);
    store.enqueue_delivery(&new).await.expect("delivery queued");
    new
}

/// A merchant's delivery as listed.
async fn stored_delivery(store: &dyn Store, merchant: MerchantId, id: EventId) -> Delivery {
    let mut cursor = None;
    loop {
        let page = store
            .list_deliveries(merchant, Mode::Test, cursor.as_deref(), 100)
            .await
            .expect("deliveries listed");
        if let Some(found) = page.items.into_iter().find(|d| d.event.id == id) {
            return found;
        }
        cursor = Some(page.next.expect("the delivery is listed"));
    }
}

async fn all_verifications(
    store: &dyn Store,
    merchant: MerchantId,
    filter: &VerificationFilter,
    limit: u32,
) -> Vec<Verification> {
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_verifications(merchant, filter, cursor.as_deref(), limit)
            .await
            .expect("verifications listed");
        assert!(page.items.len() <= limit.max(1) as usize);
        items.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return items,
        }
    }
}

/// Newest first, the id breaking ties: the order every listing promises.
fn newest_first(a: (Timestamp, uuid::Uuid), b: (Timestamp, uuid::Uuid)) -> std::cmp::Ordering {
    b.cmp(&a)
}

// Merchants and keys.

async fn node_drains_are_kept_until_resumed(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.drained_nodes().await.unwrap(), Vec::<String>::new());
    store.set_node_drained("fs2", true, at(0)).await.unwrap();
    store.set_node_drained("fs1", true, at(1)).await.unwrap();
    // Draining twice is still one drain.
    store.set_node_drained("fs2", true, at(2)).await.unwrap();
    assert_eq!(store.drained_nodes().await.unwrap(), vec!["fs1", "fs2"]);
    // Another handle on the same database (another replica) sees them.
    let other = db.open().await;
    assert_eq!(other.drained_nodes().await.unwrap(), vec!["fs1", "fs2"]);
    other.set_node_drained("fs2", false, at(3)).await.unwrap();
    other.set_node_drained("fs9", false, at(4)).await.unwrap();
    assert_eq!(store.drained_nodes().await.unwrap(), vec!["fs1"]);
}

async fn merchants_round_trip_and_names_are_unique(db: &TestDb) {
    let store = db.open().await;
    let settings = MerchantSettings {
        code_ttl: Duration::from_millis(95_500),
        max_check_attempts: 7,
    };
    let before = Timestamp::now();
    let acme = store
        .create_merchant("acme", "whsec_acme", &settings)
        .await
        .unwrap();
    assert_eq!(acme.name, "acme");
    assert_eq!(acme.webhook_secret, "whsec_acme");
    assert_eq!(acme.settings, settings);
    assert!(acme.created_at >= before && acme.created_at <= Timestamp::now());

    assert_eq!(store.merchant(acme.id).await.unwrap(), Some(acme.clone()));
    assert_eq!(
        store.merchant_by_name("acme").await.unwrap(),
        Some(acme.clone())
    );
    assert_eq!(store.merchant(MerchantId::new()).await.unwrap(), None);
    assert_eq!(store.merchant_by_name("ACME").await.unwrap(), None);

    let again = store
        .create_merchant("acme", "other", &MerchantSettings::default())
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(store.merchant(acme.id).await.unwrap(), Some(acme.clone()));

    let tighter = MerchantSettings {
        code_ttl: Duration::from_secs(60),
        max_check_attempts: 3,
    };
    store
        .set_merchant_settings(acme.id, &tighter)
        .await
        .unwrap();
    let read = store.merchant(acme.id).await.unwrap().unwrap();
    assert_eq!(read.settings, tighter);
    assert_eq!(
        (read.name, read.webhook_secret),
        (acme.name, acme.webhook_secret)
    );
    let nobody = store
        .set_merchant_settings(MerchantId::new(), &tighter)
        .await;
    assert!(matches!(nobody, Err(StoreError::NotFound(_))), "{nobody:?}");
}

async fn api_keys_round_trip(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let live = ApiKey {
        id: ApiKeyId::new(),
        merchant_id: m.id,
        mode: Mode::Live,
        hash: "a".repeat(64),
        created_at: at(0),
        revoked_at: None,
    };
    let test = ApiKey {
        id: ApiKeyId::new(),
        mode: Mode::Test,
        hash: "b".repeat(64),
        revoked_at: Some(at(5_000)),
        ..live.clone()
    };
    store.create_api_key(&live).await.unwrap();
    store.create_api_key(&test).await.unwrap();
    assert_eq!(store.api_key(live.id).await.unwrap(), Some(live.clone()));
    assert_eq!(store.api_key(test.id).await.unwrap(), Some(test));
    assert_eq!(store.api_key(ApiKeyId::new()).await.unwrap(), None);

    let duplicate = store.create_api_key(&live).await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "{duplicate:?}"
    );
    let orphan = ApiKey {
        id: ApiKeyId::new(),
        merchant_id: MerchantId::new(),
        ..live
    };
    let orphan = store.create_api_key(&orphan).await;
    assert!(matches!(orphan, Err(StoreError::NotFound(_))), "{orphan:?}");
}

async fn operators_list_merchants_and_keys_and_revoke_keys(db: &TestDb) {
    let store = db.open().await;
    assert!(store.merchants().await.unwrap().is_empty());
    assert!(store.api_keys(None).await.unwrap().is_empty());
    let zeta = merchant(&*store, "zeta").await;
    let acme = merchant(&*store, "acme").await;
    let names: Vec<String> = store
        .merchants()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["acme", "zeta"], "by name");
    let key = |merchant: &Merchant, created: i64| ApiKey {
        id: ApiKeyId::new(),
        merchant_id: merchant.id,
        mode: Mode::Live,
        hash: "c".repeat(64),
        created_at: at(created),
        revoked_at: None,
    };
    let (second, first, third) = (key(&acme, 2_000), key(&zeta, 1_000), key(&acme, 3_000));
    for k in [&second, &first, &third] {
        store.create_api_key(k).await.unwrap();
    }
    assert_eq!(
        store.api_keys(None).await.unwrap(),
        [first.clone(), second.clone(), third.clone()],
        "oldest first"
    );
    assert_eq!(
        store.api_keys(Some(acme.id)).await.unwrap(),
        [second.clone(), third.clone()]
    );
    assert!(
        store
            .api_keys(Some(MerchantId::new()))
            .await
            .unwrap()
            .is_empty()
    );

    let revoked = store.revoke_api_key(second.id, at(10_000)).await.unwrap();
    assert_eq!(
        revoked.as_ref().and_then(|k| k.revoked_at),
        Some(at(10_000))
    );
    let again = store.revoke_api_key(second.id, at(20_000)).await.unwrap();
    assert_eq!(
        again.and_then(|k| k.revoked_at),
        Some(at(10_000)),
        "the first revocation stands"
    );
    assert_eq!(
        store
            .api_key(second.id)
            .await
            .unwrap()
            .and_then(|k| k.revoked_at),
        Some(at(10_000))
    );
    assert_eq!(
        store.api_key(third.id).await.unwrap(),
        Some(third),
        "others untouched"
    );
    assert_eq!(
        store.revoke_api_key(ApiKeyId::new(), at(0)).await.unwrap(),
        None
    );
}

// Verifications.

async fn verifications_round_trip_every_field(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let full = NewVerification {
        id: VerificationId::new(),
        merchant_id: m.id,
        mode: Mode::Live,
        scenario: "consent_record".to_owned(),
        phone: PhoneNumber::parse("+82 2 1234 5678").unwrap(),
        language: Language::En,
        callback_url: Some("https://merchant.example/hooks?x=1".to_owned()),
        notify_answered: true,
        customer_ref: Some("customer-42".to_owned()),
        metadata: json!({
            "order": 1234,
            "ratio": 0.25,
            "tags": ["a", "b"],
            "nested": { "ok": true, "none": null },
            "text": "홍길동 \"quoted\" \\ back",
        }),
        fields: BTreeMap::from([
            ("account".to_owned(), "000-1111-2222".to_owned()),
            ("holder".to_owned(), "홍길동".to_owned()),
        ]),
        code_digest: Some("c".repeat(64)),
        code_expires_at: Some(at(180_000)),
        birthdate_digest: Some(format!("{}:{}", "a".repeat(64), "b".repeat(64))),
        max_check_attempts: 7,
        created_at: at(0),
    };
    let created = store.create_verification(&full).await.unwrap();
    assert_eq!(created.request, full);
    assert_eq!(created.state, VerificationState::Pending);
    assert_eq!(created.outcome, None);
    assert_eq!(created.check_attempts, 0);
    assert_eq!(created.timeline, json!([]));
    assert_eq!(
        (created.call_id.as_deref(), created.answered_at),
        (None, None)
    );
    assert_eq!(
        store.verification(m.id, full.id).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(
        store.verification_by_id(full.id).await.unwrap(),
        Some(created.clone())
    );

    let minimal = new_verification(m.id, "read_code", at(1));
    let created = store.create_verification(&minimal).await.unwrap();
    assert_eq!(
        store.verification_by_id(minimal.id).await.unwrap(),
        Some(created)
    );
    assert_eq!(
        store
            .verification_by_id(VerificationId::new())
            .await
            .unwrap(),
        None
    );

    let duplicate = store.create_verification(&full).await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "{duplicate:?}"
    );
    let orphan = store
        .create_verification(&new_verification(MerchantId::new(), "read_code", at(2)))
        .await;
    assert!(matches!(orphan, Err(StoreError::NotFound(_))), "{orphan:?}");
}

async fn reads_never_cross_merchants(db: &TestDb) {
    let store = db.open().await;
    let a = merchant(&*store, "a").await;
    let b = merchant(&*store, "b").await;
    let v = verification(&*store, a.id, at(0)).await;
    store.mark_calling(v.id(), "call-1", "fs1").await.unwrap();
    store
        .finish(v.id(), &finish(Outcome::Verified, at(9_000)), None)
        .await
        .unwrap();
    let d = enqueue(&*store, &v, at(10_000)).await;
    store
        .set_pin(a.id, Mode::Test, "cust", "hash-a")
        .await
        .unwrap();
    let response = IdempotentResponse {
        request_hash: "h".to_owned(),
        status: 201,
        body: "{}".to_owned(),
    };
    claim(&*store, a.id, "key-1", &response).await;

    assert_eq!(store.verification(b.id, v.id()).await.unwrap(), None);
    assert!(store.verification(a.id, v.id()).await.unwrap().is_some());
    let listed = store
        .list_verifications(b.id, &VerificationFilter::default(), None, 50)
        .await
        .unwrap();
    assert!(listed.items.is_empty() && listed.next.is_none());
    assert_eq!(store.pin(b.id, Mode::Test, "cust").await.unwrap(), None);
    assert!(!store.delete_pin(b.id, Mode::Test, "cust").await.unwrap());
    assert_eq!(
        store
            .pin(a.id, Mode::Test, "cust")
            .await
            .unwrap()
            .as_deref(),
        Some("hash-a")
    );
    assert_eq!(
        store
            .claim_idempotent(b.id, Mode::Test, "key-1", "h", at(0))
            .await
            .unwrap(),
        None,
        "b's key of the same name is b's own"
    );
    assert!(
        store
            .list_deliveries(b.id, Mode::Test, None, 50)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        !store
            .redeliver(b.id, Mode::Test, d.id, at(20_000))
            .await
            .unwrap()
    );
    assert_eq!(
        stored_delivery(&*store, a.id, d.id).await.next_attempt_at,
        at(10_000),
        "another merchant's redeliver changed nothing"
    );
    let usage = store
        .usage(b.id, Mode::Test, at(-1), at(1_000_000))
        .await
        .unwrap();
    assert_eq!(usage, Default::default());
    let usage = store
        .usage(a.id, Mode::Test, at(-1), at(1_000_000))
        .await
        .unwrap();
    assert_eq!(usage.calls, 1);
}

async fn transitions_are_guarded(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let v = verification(&*store, m.id, at(0)).await;
    let id = v.id();
    let state = async |store: &Arc<dyn Store>| store.verification_by_id(id).await.unwrap().unwrap();

    assert!(
        !store.mark_answered(id, at(1_000)).await.unwrap(),
        "not calling yet"
    );
    assert_eq!(state(&store).await, v);

    assert!(store.mark_calling(id, "call-1", "fs1").await.unwrap());
    let calling = state(&store).await;
    assert_eq!(calling.state, VerificationState::Calling);
    assert_eq!(calling.call_id.as_deref(), Some("call-1"));
    assert_eq!(calling.node.as_deref(), Some("fs1"));
    assert!(!store.mark_calling(id, "call-2", "fs2").await.unwrap());
    assert_eq!(
        state(&store).await,
        calling,
        "a second placement changes nothing"
    );
    assert!(
        !store
            .mark_replaced(id, "call-0", "call-2", "fs2")
            .await
            .unwrap(),
        "only the call on record is replaced"
    );
    assert_eq!(state(&store).await, calling);
    assert!(
        store
            .mark_replaced(id, "call-1", "call-2", "fs2")
            .await
            .unwrap()
    );
    let calling = state(&store).await;
    assert_eq!(calling.state, VerificationState::Calling);
    assert_eq!(calling.call_id.as_deref(), Some("call-2"));
    assert_eq!(calling.node.as_deref(), Some("fs2"));

    assert!(store.mark_answered(id, at(3_000)).await.unwrap());
    let answered = state(&store).await;
    assert_eq!(answered.state, VerificationState::Answered);
    assert_eq!(answered.answered_at, Some(at(3_000)));
    assert!(!store.mark_answered(id, at(4_000)).await.unwrap());
    assert!(!store.mark_calling(id, "call-3", "fs3").await.unwrap());
    assert!(
        !store
            .mark_replaced(id, "call-2", "call-3", "fs3")
            .await
            .unwrap(),
        "an answered call is never replaced"
    );
    assert_eq!(state(&store).await, answered);

    let done = finish(Outcome::Verified, at(20_000));
    assert!(store.finish(id, &done, None).await.unwrap());
    let finished = state(&store).await;
    assert!(finished.is_final());
    assert_eq!(finished.outcome, Some(Outcome::Verified));
    assert_eq!(finished.reason.as_deref(), Some(done.reason.as_str()));
    assert_eq!(finished.timeline, done.timeline);
    assert_eq!(finished.finished_at, Some(at(20_000)));
    assert_eq!(finished.answered_at, Some(at(3_000)));
    assert!(finished.updated_at >= answered.updated_at);

    let again = finish(Outcome::Canceled, at(30_000));
    assert!(
        !store.finish(id, &again, None).await.unwrap(),
        "finish is idempotent"
    );
    assert!(!store.mark_calling(id, "call-4", "fs4").await.unwrap());
    assert!(!store.mark_answered(id, at(31_000)).await.unwrap());
    assert_eq!(state(&store).await, finished, "nothing changed once final");

    let unknown = VerificationId::new();
    for result in [
        store.mark_calling(unknown, "c", "n").await,
        store.mark_replaced(unknown, "c", "d", "n").await,
        store.mark_answered(unknown, at(0)).await,
        store.finish(unknown, &done, None).await,
    ] {
        assert!(matches!(result, Err(StoreError::NotFound(_))), "{result:?}");
    }
}

async fn finish_applies_from_every_live_state(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let pending = verification(&*store, m.id, at(0)).await;
    let calling = verification(&*store, m.id, at(1)).await;
    let answered = verification(&*store, m.id, at(2)).await;
    assert!(store.mark_calling(calling.id(), "c1", "fs1").await.unwrap());
    assert!(
        store
            .mark_calling(answered.id(), "c2", "fs1")
            .await
            .unwrap()
    );
    assert!(store.mark_answered(answered.id(), at(500)).await.unwrap());
    for (v, outcome) in [
        (&pending, Outcome::Canceled),
        (&calling, Outcome::NoAnswer),
        (&answered, Outcome::CustomerHungUp),
    ] {
        assert!(
            store
                .finish(v.id(), &finish(outcome, at(9_000)), None)
                .await
                .unwrap()
        );
        let stored = store.verification_by_id(v.id()).await.unwrap().unwrap();
        assert_eq!(
            (stored.state, stored.outcome),
            (VerificationState::Finished, Some(outcome))
        );
    }
}

async fn finish_erases_the_birthdate_digest(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let digest = format!("{}:{}", "a".repeat(64), "b".repeat(64));
    let held = NewVerification {
        birthdate_digest: Some(digest.clone()),
        ..new_verification(m.id, "enter_birthdate", at(0))
    };
    let other = NewVerification {
        birthdate_digest: Some(digest.clone()),
        ..new_verification(m.id, "enter_birthdate", at(1))
    };
    store.create_verification(&held).await.unwrap();
    store.create_verification(&other).await.unwrap();
    assert!(store.mark_calling(held.id, "c1", "fs1").await.unwrap());
    let calling = store.verification_by_id(held.id).await.unwrap().unwrap();
    assert_eq!(
        calling.request.birthdate_digest.as_deref(),
        Some(digest.as_str()),
        "held while the call runs"
    );
    assert!(
        store
            .finish(held.id, &finish(Outcome::Verified, at(9_000)), None)
            .await
            .unwrap()
    );
    let finished = store.verification_by_id(held.id).await.unwrap().unwrap();
    assert_eq!(finished.request.birthdate_digest, None, "erased at the end");
    assert_eq!(finished.outcome, Some(Outcome::Verified));
    let untouched = store.verification_by_id(other.id).await.unwrap().unwrap();
    assert_eq!(
        untouched.request.birthdate_digest.as_deref(),
        Some(digest.as_str()),
        "only the finished verification's"
    );
}

async fn finish_queues_its_webhook_with_it_and_only_once(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let v = verification(&*store, m.id, at(0)).await;
    let first = delivery(&v, at(1_000));
    assert!(
        store
            .finish(v.id(), &finish(Outcome::Verified, at(1_000)), Some(&first))
            .await
            .unwrap()
    );
    assert_eq!(stored_delivery(&*store, m.id, first.id).await.event, first);
    let second = delivery(&v, at(2_000));
    assert!(
        !store
            .finish(v.id(), &finish(Outcome::Busy, at(2_000)), Some(&second))
            .await
            .unwrap()
    );
    let listed = store
        .list_deliveries(m.id, Mode::Test, None, 100)
        .await
        .unwrap();
    assert_eq!(ids(&listed.items), vec![first.id], "no second webhook");

    // A webhook that cannot be stored leaves the verification unfinished.
    let w = verification(&*store, m.id, at(3_000)).await;
    let clash = NewDelivery {
        id: first.id,
        ..delivery(&w, at(3_000))
    };
    let refused = store
        .finish(w.id(), &finish(Outcome::Verified, at(3_000)), Some(&clash))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    let w = store.verification_by_id(w.id()).await.unwrap().unwrap();
    assert_eq!(w.state, VerificationState::Pending, "rolled back");
}

async fn modes_are_kept_apart_in_listings_and_usage(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let test = verification(&*store, m.id, at(0)).await;
    let live = store
        .create_verification(&NewVerification {
            mode: Mode::Live,
            ..new_verification(m.id, "read_code", at(1))
        })
        .await
        .unwrap();
    for (mode, expected) in [(Mode::Test, test.id()), (Mode::Live, live.id())] {
        let filter = VerificationFilter {
            mode: Some(mode),
            ..VerificationFilter::default()
        };
        let page = store
            .list_verifications(m.id, &filter, None, 10)
            .await
            .unwrap();
        assert_eq!(ids_of(&page.items), vec![expected], "{mode:?}");
        store.mark_calling(expected, "call", "fs1").await.unwrap();
        store
            .finish(expected, &finish(Outcome::Completed, at(10)), None)
            .await
            .unwrap();
    }
    store
        .finish(live.id(), &finish(Outcome::Completed, at(10)), None)
        .await
        .unwrap();
    let usage = store
        .usage(m.id, Mode::Live, at(-1), at(100))
        .await
        .unwrap();
    assert_eq!(usage.calls, 1);
    assert_eq!(usage.billable.get("read_code"), Some(&1));
}

async fn concurrent_finishes_have_one_winner(db: &TestDb) {
    let store = db.open().await;
    let other = db.open().await;
    let m = merchant(&*store, "acme").await;
    let id = verification(&*store, m.id, at(0)).await.id();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = if i % 2 == 0 { &store } else { &other }.clone();
            tokio::spawn(async move {
                let mut done = finish(Outcome::Completed, at(i));
                done.reason = format!("finisher {i}");
                let won = store.finish(id, &done, None).await.unwrap();
                (won, done.reason)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (won, reason) = task.await.unwrap();
        if won {
            winners.push(reason);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let stored = store.verification_by_id(id).await.unwrap().unwrap();
    assert_eq!(stored.reason.as_ref(), Some(&winners[0]));
}

async fn checks_count_until_locked(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let v = store
        .create_verification(&NewVerification {
            max_check_attempts: 3,
            ..new_verification(m.id, "read_code", at(0))
        })
        .await
        .unwrap();
    for attempts in 1..=3 {
        assert_eq!(
            store.record_check(v.id(), None).await.unwrap(),
            CheckRecorded::Counted { attempts }
        );
    }
    for approved in [None, Some(at(6_000))] {
        assert_eq!(
            store.record_check(v.id(), approved).await.unwrap(),
            CheckRecorded::Locked,
            "even a match is refused once locked"
        );
    }
    let stored = store.verification_by_id(v.id()).await.unwrap().unwrap();
    assert_eq!(stored.check_attempts, 3);
    assert_eq!(stored.checked_at, None);
    // The limit is the verification's own: a merchant's later setting
    // does not reopen it.
    let raised = MerchantSettings {
        max_check_attempts: 10,
        ..m.settings.clone()
    };
    store.set_merchant_settings(m.id, &raised).await.unwrap();
    assert_eq!(
        store.record_check(v.id(), None).await.unwrap(),
        CheckRecorded::Locked,
        "the limit is the one the verification was created with"
    );
    let generous = store
        .create_verification(&NewVerification {
            max_check_attempts: 4,
            ..new_verification(m.id, "read_code", at(1))
        })
        .await
        .unwrap();
    for attempts in 1..=4 {
        assert_eq!(
            store.record_check(generous.id(), None).await.unwrap(),
            CheckRecorded::Counted { attempts }
        );
    }
    assert_eq!(
        store.record_check(generous.id(), None).await.unwrap(),
        CheckRecorded::Locked
    );
    let unknown = store.record_check(VerificationId::new(), None).await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );

    // A match is recorded by the same write that counts it; after it,
    // every check is `Used` and counts nothing.
    let fresh = verification(&*store, m.id, at(2)).await.id();
    assert_eq!(
        store.record_check(fresh, Some(at(7_000))).await.unwrap(),
        CheckRecorded::Counted { attempts: 1 }
    );
    for approved in [Some(at(8_000)), None] {
        assert_eq!(
            store.record_check(fresh, approved).await.unwrap(),
            CheckRecorded::Used,
            "a code is good once"
        );
    }
    let stored = store.verification_by_id(fresh).await.unwrap().unwrap();
    assert_eq!(stored.checked_at, Some(at(7_000)), "the first match stands");
    assert_eq!(
        stored.check_attempts, 1,
        "checks after the match count nothing"
    );
}

async fn concurrent_checks_never_count_past_the_limit(db: &TestDb) {
    let store = db.open().await;
    let other = db.open().await;
    let m = merchant(&*store, "acme").await;
    let id = verification(&*store, m.id, at(0)).await.id();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = if i % 2 == 0 { &store } else { &other }.clone();
            tokio::spawn(async move { store.record_check(id, None).await.unwrap() })
        })
        .collect();
    let mut counted = Vec::new();
    let mut locked = 0;
    for task in tasks {
        match task.await.unwrap() {
            CheckRecorded::Counted { attempts } => counted.push(attempts),
            CheckRecorded::Locked => locked += 1,
            CheckRecorded::Used => panic!("no check matched"),
        }
    }
    counted.sort_unstable();
    assert_eq!(counted, vec![1, 2, 3, 4, 5]);
    assert_eq!(locked, 35);
    let stored = store.verification_by_id(id).await.unwrap().unwrap();
    assert_eq!(stored.check_attempts, 5);
}

async fn concurrent_matches_approve_once_and_lock_nothing(db: &TestDb) {
    let store = db.open().await;
    let other = db.open().await;
    let m = merchant(&*store, "acme").await;
    let id = verification(&*store, m.id, at(0)).await.id();
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let store = if i % 2 == 0 { &store } else { &other }.clone();
            tokio::spawn(async move { store.record_check(id, Some(at(i))).await.unwrap() })
        })
        .collect();
    let mut counted = Vec::new();
    let mut used = 0;
    for task in tasks {
        match task.await.unwrap() {
            CheckRecorded::Counted { attempts } => counted.push(attempts),
            CheckRecorded::Used => used += 1,
            CheckRecorded::Locked => panic!("a match locked the code"),
        }
    }
    assert_eq!(counted, vec![1], "one match is recorded");
    assert_eq!(used, 29);
    let stored = store.verification_by_id(id).await.unwrap().unwrap();
    assert_eq!(stored.check_attempts, 1);
    assert!(stored.checked_at.is_some());
}

async fn the_code_heard_is_recorded_once(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let id = verification(&*store, m.id, at(0)).await.id();
    let stored = store.verification_by_id(id).await.unwrap().unwrap();
    assert_eq!(stored.code_heard_at, None);
    assert!(store.mark_code_heard(id, at(4_000)).await.unwrap());
    assert!(!store.mark_code_heard(id, at(9_000)).await.unwrap());
    let stored = store.verification_by_id(id).await.unwrap().unwrap();
    assert_eq!(
        stored.code_heard_at,
        Some(at(4_000)),
        "the first time stands"
    );
    let unknown = store.mark_code_heard(VerificationId::new(), at(0)).await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );
}

async fn evidence_round_trips(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let v = verification(&*store, m.id, at(0)).await;
    assert_eq!(store.evidence(v.id()).await.unwrap(), None);
    let evidence = Evidence {
        consent_text: Some(
            "OO은행 예금주 홍길동 님의 계좌 자동이체 출금에 동의하시면 1번".to_owned(),
        ),
        key: Some("1".to_owned()),
        key_at: Some(at(12_345)),
        recording_path: Some("/var/lib/freeswitch/recordings/x.wav".to_owned()),
        local_path: Some("data/recordings/x.wav".to_owned()),
        recording_sha256: Some("d".repeat(64)),
        recording_ms: Some(31_250),
    };
    store.save_evidence(v.id(), &evidence).await.unwrap();
    assert_eq!(store.evidence(v.id()).await.unwrap(), Some(evidence));

    let bare = Evidence {
        consent_text: None,
        key: None,
        key_at: None,
        recording_path: None,
        local_path: None,
        recording_sha256: None,
        recording_ms: None,
    };
    store.save_evidence(v.id(), &bare).await.unwrap();
    assert_eq!(store.evidence(v.id()).await.unwrap(), Some(bare.clone()));

    let orphan = store.save_evidence(VerificationId::new(), &bare).await;
    assert!(matches!(orphan, Err(StoreError::NotFound(_))), "{orphan:?}");
}

async fn pins_round_trip(db: &TestDb) {
    let store = db.open().await;
    let a = merchant(&*store, "a").await;
    let b = merchant(&*store, "b").await;
    assert_eq!(store.pin(a.id, Mode::Test, "cust").await.unwrap(), None);
    store
        .set_pin(a.id, Mode::Test, "cust", "$argon2id$first")
        .await
        .unwrap();
    store
        .set_pin(b.id, Mode::Test, "cust", "$argon2id$other")
        .await
        .unwrap();
    assert_eq!(
        store
            .pin(a.id, Mode::Test, "cust")
            .await
            .unwrap()
            .as_deref(),
        Some("$argon2id$first")
    );
    store
        .set_pin(a.id, Mode::Test, "cust", "$argon2id$second")
        .await
        .unwrap();
    assert_eq!(
        store
            .pin(a.id, Mode::Test, "cust")
            .await
            .unwrap()
            .as_deref(),
        Some("$argon2id$second")
    );
    assert!(store.delete_pin(a.id, Mode::Test, "cust").await.unwrap());
    assert_eq!(store.pin(a.id, Mode::Test, "cust").await.unwrap(), None);
    assert!(!store.delete_pin(a.id, Mode::Test, "cust").await.unwrap());
    assert_eq!(
        store
            .pin(b.id, Mode::Test, "cust")
            .await
            .unwrap()
            .as_deref(),
        Some("$argon2id$other")
    );
    let orphan = store
        .set_pin(MerchantId::new(), Mode::Live, "cust", "h")
        .await;
    assert!(matches!(orphan, Err(StoreError::NotFound(_))), "{orphan:?}");
}

async fn pins_are_kept_per_mode(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    store
        .set_pin(m.id, Mode::Live, "cust", "$argon2id$live")
        .await
        .unwrap();
    assert_eq!(
        store.pin(m.id, Mode::Test, "cust").await.unwrap(),
        None,
        "the sandbox does not see the live PIN"
    );
    store
        .set_pin(m.id, Mode::Test, "cust", "$argon2id$test")
        .await
        .unwrap();
    for (mode, hash) in [
        (Mode::Live, "$argon2id$live"),
        (Mode::Test, "$argon2id$test"),
    ] {
        assert_eq!(
            store.pin(m.id, mode, "cust").await.unwrap().as_deref(),
            Some(hash),
            "{mode:?}"
        );
    }
    assert!(store.delete_pin(m.id, Mode::Test, "cust").await.unwrap());
    assert!(!store.delete_pin(m.id, Mode::Test, "cust").await.unwrap());
    assert_eq!(
        store
            .pin(m.id, Mode::Live, "cust")
            .await
            .unwrap()
            .as_deref(),
        Some("$argon2id$live"),
        "removing the sandbox's PIN leaves the live one"
    );
}

// Idempotency.

fn response(body: &str) -> IdempotentResponse {
    IdempotentResponse {
        request_hash: format!("hash of {body}"),
        status: 201,
        body: body.to_owned(),
    }
}

/// Claims `key` for `response`'s request and stores `response` under it.
async fn claim(store: &dyn Store, merchant: MerchantId, key: &str, response: &IdempotentResponse) {
    let claimed = store
        .claim_idempotent(merchant, Mode::Test, key, &response.request_hash, at(0))
        .await
        .unwrap();
    assert_eq!(claimed, None, "{key} was free");
    store
        .save_idempotent(merchant, Mode::Test, key, response)
        .await
        .unwrap();
}

async fn idempotency_keys_keep_the_first_response(db: &TestDb) {
    let store = db.open().await;
    let a = merchant(&*store, "a").await;
    let b = merchant(&*store, "b").await;
    let first = response(r#"{"id":"vrf_1"}"#);
    claim(&*store, a.id, "k", &first).await;
    assert_eq!(
        store
            .claim_idempotent(a.id, Mode::Test, "k", &first.request_hash, at(1))
            .await
            .unwrap(),
        Some(first.clone()),
        "a repeat finds the first response"
    );
    assert_eq!(
        store
            .claim_idempotent(a.id, Mode::Test, "k", "another request", at(2))
            .await
            .unwrap(),
        Some(first.clone()),
        "another request finds it too (the caller compares hashes)"
    );
    let second = IdempotentResponse {
        status: 409,
        ..response("other")
    };
    claim(&*store, b.id, "k", &second).await;
    assert_eq!(
        store
            .claim_idempotent(b.id, Mode::Test, "k", "x", at(3))
            .await
            .unwrap(),
        Some(second)
    );
}

async fn idempotency_keys_are_kept_per_mode(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let live = response("live");
    let claimed = store
        .claim_idempotent(m.id, Mode::Live, "k", &live.request_hash, at(0))
        .await
        .unwrap();
    assert_eq!(claimed, None);
    // While the live request runs, the sandbox's key of the same value is
    // free: it is another key.
    let test = response("test");
    assert_eq!(
        store
            .claim_idempotent(m.id, Mode::Test, "k", &test.request_hash, at(1))
            .await
            .unwrap(),
        None
    );
    store
        .save_idempotent(m.id, Mode::Test, "k", &test)
        .await
        .unwrap();
    store
        .release_idempotent(m.id, Mode::Test, "k")
        .await
        .unwrap();
    let running = store
        .claim_idempotent(m.id, Mode::Live, "k", &live.request_hash, at(2))
        .await
        .unwrap()
        .expect("the live claim is still there");
    assert_eq!(running.status, 0, "the sandbox's save left it running");
    store
        .save_idempotent(m.id, Mode::Live, "k", &live)
        .await
        .unwrap();
    for (mode, expected) in [(Mode::Live, &live), (Mode::Test, &test)] {
        assert_eq!(
            store
                .claim_idempotent(m.id, mode, "k", "a repeat", at(3))
                .await
                .unwrap()
                .as_ref(),
            Some(expected),
            "{mode:?}"
        );
    }
    // A live release gives up only the live key (and only a running one).
    store
        .claim_idempotent(m.id, Mode::Live, "other", "h", at(4))
        .await
        .unwrap();
    store
        .claim_idempotent(m.id, Mode::Test, "other", "h", at(4))
        .await
        .unwrap();
    store
        .release_idempotent(m.id, Mode::Live, "other")
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_idempotent(m.id, Mode::Live, "other", "h", at(5))
            .await
            .unwrap(),
        None,
        "released"
    );
    assert_eq!(
        store
            .claim_idempotent(m.id, Mode::Test, "other", "h", at(5))
            .await
            .unwrap()
            .map(|r| r.status),
        Some(0),
        "still running"
    );
}

async fn idempotency_claims_run_until_saved_released_or_abandoned(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    assert_eq!(
        store
            .claim_idempotent(m.id, Mode::Test, "k", "h1", at(0))
            .await
            .unwrap(),
        None
    );
    let running = store
        .claim_idempotent(m.id, Mode::Test, "k", "h1", at(1_000))
        .await
        .unwrap()
        .expect("claimed");
    assert_eq!((running.status, running.request_hash.as_str()), (0, "h1"));

    store
        .release_idempotent(m.id, Mode::Test, "k")
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_idempotent(m.id, Mode::Test, "k", "h2", at(2_000))
            .await
            .unwrap(),
        None,
        "a released key is free again"
    );
    let abandoned_at = at(2_000).plus(arsgate::store::ABANDONED_CLAIM);
    assert_eq!(
        store
            .claim_idempotent(
                m.id,
                Mode::Test,
                "k",
                "h3",
                abandoned_at.plus(Duration::from_millis(1))
            )
            .await
            .unwrap(),
        None,
        "a claim running past the limit is taken over"
    );
    let saved = IdempotentResponse {
        request_hash: "h3".to_owned(),
        status: 201,
        body: "{}".to_owned(),
    };
    store
        .save_idempotent(m.id, Mode::Test, "k", &saved)
        .await
        .unwrap();
    store
        .release_idempotent(m.id, Mode::Test, "k")
        .await
        .unwrap();
    let far = abandoned_at.plus(Duration::from_secs(3600));
    assert_eq!(
        store
            .claim_idempotent(m.id, Mode::Test, "k", "h4", far)
            .await
            .unwrap(),
        Some(saved),
        "a stored response is neither released nor abandoned"
    );
    let stale = IdempotentResponse {
        request_hash: "h2".to_owned(),
        ..response("{}")
    };
    let lost = store.save_idempotent(m.id, Mode::Test, "k", &stale).await;
    assert!(matches!(lost, Err(StoreError::NotFound(_))), "{lost:?}");
}

async fn concurrent_idempotent_claims_have_one_winner(db: &TestDb) {
    let store = db.open().await;
    let other = db.open().await;
    let m = merchant(&*store, "acme").await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = if i % 2 == 0 { &store } else { &other }.clone();
            tokio::spawn(async move {
                let hash = format!("request {i}");
                store
                    .claim_idempotent(m.id, Mode::Test, "same-key", &hash, at(i))
                    .await
                    .unwrap()
                    .is_none()
                    .then_some(hash)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        winners.extend(task.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let held = store
        .claim_idempotent(m.id, Mode::Test, "same-key", "late", at(100))
        .await
        .unwrap()
        .expect("held");
    assert_eq!(held.request_hash, winners[0]);
}

// The webhook outbox.

fn ids(deliveries: &[Delivery]) -> Vec<EventId> {
    deliveries.iter().map(|d| d.event.id).collect()
}

async fn claims_take_due_pending_deliveries_and_lease_them(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let v = verification(&*store, m.id, at(0)).await;
    let d1 = enqueue(&*store, &v, at(0)).await;
    let d2 = enqueue(&*store, &v, at(1_000)).await;
    let d3 = enqueue(&*store, &v, at(5_000)).await;
    assert_eq!(store.pending_deliveries().await.unwrap(), 3);

    let queued = stored_delivery(&*store, m.id, d1.id).await;
    assert_eq!(queued.event, d1);
    assert_eq!(queued.state, DeliveryState::Pending);
    assert_eq!((queued.attempts, queued.next_attempt_at), (0, at(0)));
    assert_eq!(
        (
            queued.last_status,
            queued.last_error.as_deref(),
            queued.delivered_at
        ),
        (None, None, None)
    );

    let lease = at(61_000);
    let claimed = store
        .claim_due_deliveries(at(1_000), lease, 10)
        .await
        .unwrap();
    let mut got = ids(&claimed);
    got.sort();
    let mut want = vec![d1.id, d2.id];
    want.sort();
    assert_eq!(got, want, "only what is due");
    for d in &claimed {
        assert_eq!(d.state, DeliveryState::Pending);
        assert_eq!(d.next_attempt_at, lease);
        assert_eq!(d.attempts, 0);
    }
    assert_eq!(
        stored_delivery(&*store, m.id, d1.id).await.next_attempt_at,
        lease
    );
    assert!(
        store
            .claim_due_deliveries(at(1_000), lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased deliveries are not handed out again"
    );
    assert_eq!(
        ids(&store
            .claim_due_deliveries(at(5_000), lease, 10)
            .await
            .unwrap()),
        vec![d3.id]
    );

    let one = store
        .claim_due_deliveries(lease, at(120_000), 1)
        .await
        .unwrap();
    assert_eq!(one.len(), 1, "the limit holds");
    let rest = store
        .claim_due_deliveries(lease, at(120_000), 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 2, "an expired lease makes a delivery due again");
    assert_eq!(
        store.pending_deliveries().await.unwrap(),
        3,
        "claims keep them pending"
    );

    let duplicate = store.enqueue_delivery(&d1).await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "{duplicate:?}"
    );
    let orphan = NewDelivery {
        id: EventId::new(),
        verification_id: VerificationId::new(),
        ..d1
    };
    let orphan = store.enqueue_delivery(&orphan).await;
    assert!(matches!(orphan, Err(StoreError::NotFound(_))), "{orphan:?}");
}

async fn concurrent_claims_never_share_a_delivery(db: &TestDb) {
    let store = db.open().await;
    let other = db.open().await;
    let m = merchant(&*store, "acme").await;
    let v = verification(&*store, m.id, at(0)).await;
    let mut queued = HashSet::new();
    for i in 0..60 {
        queued.insert(enqueue(&*store, &v, at(i)).await.id);
    }
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let store = if i % 2 == 0 { &store } else { &other }.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let claimed = store
                        .claim_due_deliveries(at(100), at(600_000), 3)
                        .await
                        .unwrap();
                    if claimed.is_empty() {
                        return mine;
                    }
                    mine.extend(ids(&claimed));
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for task in tasks {
        for id in task.await.unwrap() {
            assert!(seen.insert(id), "{id} was handed out twice");
        }
    }
    assert_eq!(seen, queued);
}

async fn failed_attempts_are_counted_and_dead_letters_stay_put(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let v = verification(&*store, m.id, at(0)).await;
    let d = enqueue(&*store, &v, at(0)).await;
    assert_eq!(
        store
            .claim_due_deliveries(at(0), at(30_000), 10)
            .await
            .unwrap()
            .len(),
        1
    );

    store
        .mark_attempt_failed(d.id, Some(500), "HTTP 500", at(10_000), false)
        .await
        .unwrap();
    let failed = stored_delivery(&*store, m.id, d.id).await;
    assert_eq!(failed.state, DeliveryState::Pending);
    assert_eq!(failed.attempts, 1);
    assert_eq!(failed.last_status, Some(500));
    assert_eq!(failed.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(failed.next_attempt_at, at(10_000));
    assert!(
        store
            .claim_due_deliveries(at(9_999), at(40_000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(&store
            .claim_due_deliveries(at(10_000), at(40_000), 10)
            .await
            .unwrap()),
        vec![d.id]
    );

    store
        .mark_attempt_failed(d.id, None, "connection refused", at(20_000), true)
        .await
        .unwrap();
    let dead = stored_delivery(&*store, m.id, d.id).await;
    assert_eq!(dead.state, DeliveryState::Dead);
    assert_eq!(dead.attempts, 2);
    assert_eq!(dead.last_status, None);
    assert_eq!(dead.last_error.as_deref(), Some("connection refused"));
    assert!(
        store
            .claim_due_deliveries(at(1_000_000), at(2_000_000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.pending_deliveries().await.unwrap(), 0);

    store
        .mark_attempt_failed(d.id, Some(502), "late report", at(0), false)
        .await
        .unwrap();
    assert_eq!(
        stored_delivery(&*store, m.id, d.id).await,
        dead,
        "a late failure leaves a dead letter as it is"
    );
    let unknown = store
        .mark_attempt_failed(EventId::new(), None, "x", at(0), false)
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );
}

async fn delivered_deliveries_are_done(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let v = verification(&*store, m.id, at(0)).await;
    let d = enqueue(&*store, &v, at(0)).await;
    let keep = enqueue(&*store, &v, at(1)).await;
    store
        .claim_due_deliveries(at(0), at(30_000), 10)
        .await
        .unwrap();
    store
        .mark_attempt_failed(d.id, Some(503), "busy", at(0), false)
        .await
        .unwrap();
    store.mark_delivered(d.id, 204, at(2_000)).await.unwrap();
    let delivered = stored_delivery(&*store, m.id, d.id).await;
    assert_eq!(delivered.state, DeliveryState::Delivered);
    assert_eq!(delivered.attempts, 2);
    assert_eq!(delivered.last_status, Some(204));
    assert_eq!(delivered.last_error, None);
    assert_eq!(delivered.delivered_at, Some(at(2_000)));
    assert_eq!(store.pending_deliveries().await.unwrap(), 1);

    store
        .mark_attempt_failed(d.id, Some(500), "late report", at(0), false)
        .await
        .unwrap();
    assert_eq!(
        stored_delivery(&*store, m.id, d.id).await,
        delivered,
        "a late failure never undoes a delivery"
    );
    let due = store
        .claim_due_deliveries(at(1_000_000), at(2_000_000), 10)
        .await
        .unwrap();
    assert_eq!(ids(&due), vec![keep.id]);
    let unknown = store.mark_delivered(EventId::new(), 200, at(0)).await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );
}

async fn redeliver_requeues_dead_and_delivered(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let v = verification(&*store, m.id, at(0)).await;
    let dead = enqueue(&*store, &v, at(0)).await;
    let delivered = enqueue(&*store, &v, at(1)).await;
    store
        .claim_due_deliveries(at(1), at(30_000), 10)
        .await
        .unwrap();
    store
        .mark_attempt_failed(dead.id, Some(410), "gone", at(0), true)
        .await
        .unwrap();
    store
        .mark_delivered(delivered.id, 200, at(2_000))
        .await
        .unwrap();
    assert_eq!(store.pending_deliveries().await.unwrap(), 0);

    let now = at(86_400_000);
    assert!(
        store
            .redeliver(m.id, Mode::Test, dead.id, now)
            .await
            .unwrap()
    );
    assert!(
        store
            .redeliver(m.id, Mode::Test, delivered.id, now)
            .await
            .unwrap()
    );
    for id in [dead.id, delivered.id] {
        let requeued = stored_delivery(&*store, m.id, id).await;
        assert_eq!(requeued.state, DeliveryState::Pending);
        assert_eq!(requeued.next_attempt_at, now);
        assert_eq!(requeued.delivered_at, None);
        assert_eq!(requeued.attempts, 1, "the history of attempts stays");
    }
    assert_eq!(store.pending_deliveries().await.unwrap(), 2);
    assert!(
        store
            .claim_due_deliveries(at(86_399_999), at(86_500_000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .claim_due_deliveries(now, at(86_500_000), 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        !store
            .redeliver(m.id, Mode::Test, EventId::new(), now)
            .await
            .unwrap()
    );
}

async fn deliveries_are_kept_per_mode(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let other = merchant(&*store, "other").await;
    let test = verification(&*store, m.id, at(0)).await;
    let live = store
        .create_verification(&NewVerification {
            mode: Mode::Live,
            ..new_verification(m.id, "read_code", at(1))
        })
        .await
        .unwrap();
    let of_test = enqueue(&*store, &test, at(1_000)).await;
    // A delivery queued with its outcome takes its verification's mode too.
    let of_live = delivery(&live, at(2_000));
    assert!(
        store
            .finish(
                live.id(),
                &finish(Outcome::Verified, at(2_000)),
                Some(&of_live)
            )
            .await
            .unwrap()
    );
    for (mode, expected) in [(Mode::Test, of_test.id), (Mode::Live, of_live.id)] {
        let page = store.list_deliveries(m.id, mode, None, 100).await.unwrap();
        assert_eq!(ids(&page.items), vec![expected], "{mode:?}");
    }

    let now = at(50_000);
    assert!(
        !store
            .redeliver(m.id, Mode::Test, of_live.id, now)
            .await
            .unwrap(),
        "a sandbox key cannot requeue a live event"
    );
    assert!(
        !store
            .redeliver(m.id, Mode::Live, of_test.id, now)
            .await
            .unwrap()
    );
    for (mode, id, due) in [
        (Mode::Test, of_test.id, at(1_000)),
        (Mode::Live, of_live.id, at(2_000)),
    ] {
        let page = store.list_deliveries(m.id, mode, None, 100).await.unwrap();
        assert_eq!(page.items[0].next_attempt_at, due, "{id} unchanged");
    }
    assert!(
        store
            .redeliver(m.id, Mode::Live, of_live.id, now)
            .await
            .unwrap()
    );
    let page = store
        .list_deliveries(m.id, Mode::Live, None, 100)
        .await
        .unwrap();
    assert_eq!(page.items[0].next_attempt_at, now);

    // The verification named must be the merchant's: its mode is read
    // from it.
    let foreign = NewDelivery {
        merchant_id: other.id,
        ..delivery(&live, at(3_000))
    };
    let refused = store.enqueue_delivery(&foreign).await;
    assert!(
        matches!(refused, Err(StoreError::NotFound(_))),
        "{refused:?}"
    );
}

// Listings.

async fn verification_pages_are_stable_with_equal_timestamps(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let mut created = Vec::new();
    // Five instants, five verifications each: the id alone orders them.
    for i in 0..25 {
        created.push(verification(&*store, m.id, at((i % 5) * 1_000)).await);
    }
    created.sort_by(|a, b| {
        newest_first(
            (a.request.created_at, a.id().uuid()),
            (b.request.created_at, b.id().uuid()),
        )
    });
    let filter = VerificationFilter::default();
    for limit in [0, 1, 4, 5, 25, 26, 100] {
        let listed = all_verifications(&*store, m.id, &filter, limit).await;
        assert_eq!(listed, created, "limit {limit}");
    }

    // Pages already handed out do not shift when newer rows arrive.
    let first = store
        .list_verifications(m.id, &filter, None, 10)
        .await
        .unwrap();
    assert_eq!(first.items, created[..10]);
    verification(&*store, m.id, at(10_000)).await;
    verification(&*store, m.id, at(4_000)).await;
    let second = store
        .list_verifications(m.id, &filter, first.next.as_deref(), 10)
        .await
        .unwrap();
    assert_eq!(second.items, created[10..20]);
    let last = store
        .list_verifications(m.id, &filter, second.next.as_deref(), 10)
        .await
        .unwrap();
    assert_eq!(last.items, created[20..]);
    assert_eq!(last.next, None);
}

async fn verification_filters_combine(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let other = merchant(&*store, "other").await;
    let scenarios = ["read_code", "enter_code", "consent_record"];
    let mut all = Vec::new();
    for i in 0..18_i64 {
        let mut new = new_verification(m.id, scenarios[i as usize % 3], at((i / 2) * 1_000));
        new.customer_ref = Some(format!("c{i}"));
        let v = store.create_verification(&new).await.unwrap();
        match i % 4 {
            1 => {
                store.mark_calling(v.id(), "c", "fs1").await.unwrap();
            }
            2 => {
                store.mark_calling(v.id(), "c", "fs1").await.unwrap();
                store.mark_answered(v.id(), at(20_000)).await.unwrap();
            }
            3 => {
                store
                    .finish(v.id(), &finish(Outcome::Busy, at(30_000)), None)
                    .await
                    .unwrap();
            }
            _ => {}
        }
        all.push(store.verification_by_id(v.id()).await.unwrap().unwrap());
        verification(&*store, other.id, at(i * 1_000)).await;
    }
    all.sort_by(|a, b| {
        newest_first(
            (a.request.created_at, a.id().uuid()),
            (b.request.created_at, b.id().uuid()),
        )
    });

    let states = [
        None,
        Some(VerificationState::Pending),
        Some(VerificationState::Calling),
        Some(VerificationState::Answered),
        Some(VerificationState::Finished),
    ];
    let scenario_filters = [None, Some("enter_code"), Some("nope")];
    let ranges = [
        (None, None),
        (Some(at(2_000)), None),
        (None, Some(at(5_000))),
        (Some(at(2_000)), Some(at(5_000))),
        (Some(at(5_000)), Some(at(5_000))),
    ];
    for state in states {
        for scenario in scenario_filters {
            for (from, to) in ranges {
                let filter = VerificationFilter {
                    mode: None,
                    state,
                    scenario: scenario.map(str::to_owned),
                    created_from: from,
                    created_to: to,
                };
                let want: Vec<_> = all
                    .iter()
                    .filter(|v| state.is_none_or(|s| v.state == s))
                    .filter(|v| scenario.is_none_or(|s| v.request.scenario == s))
                    .filter(|v| from.is_none_or(|f| v.request.created_at >= f))
                    .filter(|v| to.is_none_or(|t| v.request.created_at < t))
                    .cloned()
                    .collect();
                let got = all_verifications(&*store, m.id, &filter, 3).await;
                assert_eq!(got, want, "{filter:?}");
            }
        }
    }
}

async fn delivery_pages_are_stable_with_equal_timestamps(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let other = merchant(&*store, "other").await;
    let v = verification(&*store, m.id, at(0)).await;
    let w = verification(&*store, other.id, at(0)).await;
    let mut queued = Vec::new();
    for i in 0..13 {
        let new = enqueue(&*store, &v, at((i % 3) * 1_000)).await;
        queued.push(new);
        enqueue(&*store, &w, at(i)).await;
    }
    queued.sort_by(|a, b| newest_first((a.created_at, a.id.uuid()), (b.created_at, b.id.uuid())));
    for limit in [1, 4, 13, 50] {
        let mut listed = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .list_deliveries(m.id, Mode::Test, cursor.as_deref(), limit)
                .await
                .unwrap();
            assert!(page.items.len() <= limit as usize);
            listed.extend(page.items.into_iter().map(|d| d.event));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(listed, queued, "limit {limit}");
    }
}

async fn foreign_cursors_are_refused(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let v = verification(&*store, m.id, at(0)).await;
    verification(&*store, m.id, at(1)).await;
    enqueue(&*store, &v, at(0)).await;
    enqueue(&*store, &v, at(1)).await;
    let filter = VerificationFilter::default();
    let verification_cursor = store
        .list_verifications(m.id, &filter, None, 1)
        .await
        .unwrap()
        .next
        .unwrap();
    let delivery_cursor = store
        .list_deliveries(m.id, Mode::Test, None, 1)
        .await
        .unwrap()
        .next
        .unwrap();
    for bad in ["", "garbage", "00", delivery_cursor.as_str()] {
        let result = store.list_verifications(m.id, &filter, Some(bad), 10).await;
        assert!(
            matches!(result, Err(StoreError::InvalidCursor(_))),
            "{bad:?}: {result:?}"
        );
    }
    let result = store
        .list_deliveries(m.id, Mode::Test, Some(&verification_cursor), 10)
        .await;
    assert!(
        matches!(result, Err(StoreError::InvalidCursor(_))),
        "{result:?}"
    );
}

// Usage and recovery.

async fn usage_counts_billable_calls_and_answered_time(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let other = merchant(&*store, "other").await;
    let (from, to) = (at(0), at(1_000_000));

    // (scenario, created, placed, answered for ms, outcome)
    #[rustfmt::skip]
    let calls = [
        ("read_code", at(0), true, Some(1_500), Some(Outcome::Completed)),
        ("read_code", at(10), true, Some(2_600), Some(Outcome::Verified)),
        ("read_code", at(20), true, None, Some(Outcome::NoAnswer)),
        ("enter_code", at(30), true, Some(4_000), Some(Outcome::WrongInput)),
        ("enter_code", at(40), true, Some(900), Some(Outcome::CustomerHungUp)),
        ("consent_record", at(50), true, Some(10_000), Some(Outcome::Declined)),
        ("consent_record", at(60), false, None, Some(Outcome::Canceled)),
        // Still live: answered time counts once the call ends.
        ("consent_record", at(70), true, Some(1_000), None),
        // Not placed yet.
        ("enter_pin", at(80), false, None, None),
        // Outside the range: before it, and at its (open) end.
        ("read_code", at(-1), true, Some(5_000), Some(Outcome::Verified)),
        ("read_code", to, true, Some(5_000), Some(Outcome::Verified)),
    ];
    for (scenario, created, placed, answered_ms, outcome) in calls {
        let v = store
            .create_verification(&new_verification(m.id, scenario, created))
            .await
            .unwrap();
        if placed {
            store.mark_calling(v.id(), "call", "fs1").await.unwrap();
        }
        let answered_at = created.plus(Duration::from_secs(10));
        if answered_ms.is_some() {
            store.mark_answered(v.id(), answered_at).await.unwrap();
        }
        if let Some(outcome) = outcome {
            let ms = answered_ms.unwrap_or(0);
            let done = finish(outcome, answered_at.plus(Duration::from_millis(ms as u64)));
            store.finish(v.id(), &done, None).await.unwrap();
        }
    }
    let v = store
        .create_verification(&new_verification(other.id, "read_code", at(5)))
        .await
        .unwrap();
    store.mark_calling(v.id(), "call", "fs1").await.unwrap();
    store
        .finish(v.id(), &finish(Outcome::Verified, at(100)), None)
        .await
        .unwrap();

    let usage = store.usage(m.id, Mode::Test, from, to).await.unwrap();
    assert_eq!(
        usage.billable,
        BTreeMap::from([
            ("consent_record".to_owned(), 1),
            ("enter_code".to_owned(), 1),
            ("read_code".to_owned(), 2),
        ])
    );
    assert_eq!(usage.calls, 7);
    // 1.5 + 2.6 + 4.0 + 0.9 + 10.0 s answered and finished.
    assert_eq!(usage.answered_seconds, 19);

    let empty = store
        .usage(m.id, Mode::Test, at(2_000_000), at(3_000_000))
        .await
        .unwrap();
    assert_eq!(empty, Default::default());
}

async fn unfinished_lists_every_live_verification(db: &TestDb) {
    let store = db.open().await;
    let a = merchant(&*store, "a").await;
    let b = merchant(&*store, "b").await;
    let pending = verification(&*store, a.id, at(0)).await;
    let calling = verification(&*store, b.id, at(1)).await;
    let answered = verification(&*store, a.id, at(2)).await;
    let finished = verification(&*store, b.id, at(3)).await;
    store.mark_calling(calling.id(), "c1", "fs1").await.unwrap();
    store
        .mark_calling(answered.id(), "c2", "fs2")
        .await
        .unwrap();
    store.mark_answered(answered.id(), at(10)).await.unwrap();
    store
        .finish(finished.id(), &finish(Outcome::Busy, at(20)), None)
        .await
        .unwrap();

    let live = store.unfinished().await.unwrap();
    let mut got: Vec<_> = live.iter().map(|v| (v.id(), v.state)).collect();
    got.sort_by_key(|(id, _)| *id);
    let mut want = vec![
        (pending.id(), VerificationState::Pending),
        (calling.id(), VerificationState::Calling),
        (answered.id(), VerificationState::Answered),
    ];
    want.sort_by_key(|(id, _)| *id);
    assert_eq!(got, want);
    assert!(live.iter().all(|v| !v.is_final()));
}

async fn pending_before_lists_the_old_pending_ones_only(db: &TestDb) {
    let store = db.open().await;
    let a = merchant(&*store, "a").await;
    let b = merchant(&*store, "b").await;
    let old_b = verification(&*store, b.id, at(1)).await;
    let old_a = verification(&*store, a.id, at(0)).await;
    let placed = verification(&*store, a.id, at(2)).await;
    let recent = verification(&*store, a.id, at(5)).await;
    store.mark_calling(placed.id(), "c1", "fs1").await.unwrap();

    let old = store.pending_before(at(3)).await.unwrap();
    assert_eq!(ids_of(&old), vec![old_a.id(), old_b.id()], "oldest first");
    assert!(old.iter().all(|v| v.state == VerificationState::Pending));
    let all = store.pending_before(at(6)).await.unwrap();
    assert_eq!(ids_of(&all), vec![old_a.id(), old_b.id(), recent.id()]);
    assert!(store.pending_before(at(0)).await.unwrap().is_empty());
}

async fn live_calls_are_the_calls_of_unfinished_verifications(db: &TestDb) {
    let store = db.open().await;
    let a = merchant(&*store, "a").await;
    let b = merchant(&*store, "b").await;
    let ringing = verification(&*store, a.id, at(0)).await;
    let other_merchant = verification(&*store, b.id, at(1)).await;
    let ended = verification(&*store, a.id, at(2)).await;
    verification(&*store, a.id, at(3)).await;
    store
        .mark_calling(ringing.id(), "c-ringing", "fs1")
        .await
        .unwrap();
    store
        .mark_calling(other_merchant.id(), "c-other", "fs2")
        .await
        .unwrap();
    store
        .mark_calling(ended.id(), "c-ended", "fs1")
        .await
        .unwrap();
    assert!(
        store
            .finish(ended.id(), &finish(Outcome::Timeout, at(4)), None)
            .await
            .unwrap()
    );
    let asked: Vec<String> = ["c-ringing", "c-other", "c-ended", "c-unknown"]
        .map(str::to_owned)
        .to_vec();
    let mut live = store.live_calls(&asked).await.unwrap();
    live.sort();
    assert_eq!(live, ["c-other", "c-ringing"]);
    assert!(store.live_calls(&[]).await.unwrap().is_empty());
    // A value that would be SQL, or JSON, is only a call id.
    let hostile = vec!["c-ringing') OR 1=1 --".to_owned(), "\"]".to_owned()];
    assert!(store.live_calls(&hostile).await.unwrap().is_empty());
}

async fn data_survives_reopening(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let key = ApiKey {
        id: ApiKeyId::new(),
        merchant_id: m.id,
        mode: Mode::Test,
        hash: "e".repeat(64),
        created_at: at(0),
        revoked_at: None,
    };
    store.create_api_key(&key).await.unwrap();
    let v = verification(&*store, m.id, at(0)).await;
    store.mark_calling(v.id(), "c", "fs1").await.unwrap();
    store
        .finish(v.id(), &finish(Outcome::Completed, at(5_000)), None)
        .await
        .unwrap();
    let live = verification(&*store, m.id, at(1)).await;
    let evidence = Evidence {
        consent_text: Some("동의".to_owned()),
        key: Some("1".to_owned()),
        key_at: Some(at(3_000)),
        recording_path: None,
        local_path: None,
        recording_sha256: None,
        recording_ms: Some(10),
    };
    store.save_evidence(v.id(), &evidence).await.unwrap();
    store
        .set_pin(m.id, Mode::Test, "cust", "$argon2id$x")
        .await
        .unwrap();
    claim(&*store, m.id, "k", &response("{}")).await;
    let d = enqueue(&*store, &v, at(6_000)).await;
    let finished = store.verification_by_id(v.id()).await.unwrap();
    drop(store);

    let store = db.open().await;
    assert_eq!(store.merchant(m.id).await.unwrap(), Some(m.clone()));
    assert_eq!(store.api_key(key.id).await.unwrap(), Some(key));
    assert_eq!(store.verification_by_id(v.id()).await.unwrap(), finished);
    assert_eq!(ids_of(&store.unfinished().await.unwrap()), vec![live.id()]);
    assert_eq!(store.evidence(v.id()).await.unwrap(), Some(evidence));
    assert_eq!(
        store
            .pin(m.id, Mode::Test, "cust")
            .await
            .unwrap()
            .as_deref(),
        Some("$argon2id$x")
    );
    assert_eq!(
        store
            .claim_idempotent(m.id, Mode::Test, "k", "hash of {}", at(0))
            .await
            .unwrap(),
        Some(response("{}"))
    );
    assert_eq!(stored_delivery(&*store, m.id, d.id).await.event, d);
    assert_eq!(store.pending_deliveries().await.unwrap(), 1);
}

fn ids_of(verifications: &[Verification]) -> Vec<VerificationId> {
    verifications.iter().map(Verification::id).collect()
}

async fn concurrent_opens_of_a_new_database_agree(db: &TestDb) {
    // Replicas starting together all migrate the same new database.
    let handles = futures_util::future::join_all((0..4).map(|_| db.open())).await;
    let m = merchant(&*handles[0], "acme").await;
    for store in &handles {
        assert_eq!(store.merchant(m.id).await.unwrap(), Some(m.clone()));
    }
}

async fn urls_open_the_same_database(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let by_url = arsgate::store::open(&db.url()).await.unwrap();
    assert_eq!(by_url.merchant(m.id).await.unwrap(), Some(m));
}

async fn corrupt_rows_name_their_column(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let v = verification(&*store, m.id, at(0)).await;
    db.execute_raw("UPDATE verifications SET phone = 'not a phone'")
        .await;
    let read = store.verification_by_id(v.id()).await;
    match read {
        Err(StoreError::Corrupt(what)) => assert!(what.contains("verifications.phone"), "{what}"),
        other => panic!("{other:?}"),
    }
    db.execute_raw(
        "UPDATE verifications SET phone = '+821012345678', state = 'finished', outcome = 'exploded'",
    )
    .await;
    let read = store
        .list_verifications(m.id, &VerificationFilter::default(), None, 10)
        .await;
    match read {
        Err(StoreError::Corrupt(what)) => assert!(what.contains("verifications.outcome"), "{what}"),
        other => panic!("{other:?}"),
    }
    let usage = store.usage(m.id, Mode::Test, at(0), at(1)).await;
    assert!(matches!(usage, Err(StoreError::Corrupt(_))), "{usage:?}");
}

async fn rows_stored_before_modes_migrate_to_theirs(db: &TestDb) {
    // The schema before PINs, deliveries and idempotency keys had a mode
    // and before verifications kept their check limit (V4), with a row of
    // each as an older arsgate stored them.
    db.migrate_to(4).await;
    let (m, live, test) = (
        MerchantId::new(),
        VerificationId::new(),
        VerificationId::new(),
    );
    let (to_live, to_test) = (EventId::new(), EventId::new());
    let (mu, lu, tu) = (m.uuid(), live.uuid(), test.uuid());
    let (dlu, dtu) = (to_live.uuid(), to_test.uuid());
    db.execute_raw(&format!(
        "INSERT INTO merchants (id, name, webhook_secret, code_ttl_ms, max_check_attempts, \
         created_at) VALUES ('{mu}', 'acme', 'whsec', 180000, 4, {T0}); \
         INSERT INTO verifications (id, merchant_id, mode, scenario, phone, language, metadata, \
         fields, created_at, state, check_attempts, updated_at) VALUES \
         ('{lu}', '{mu}', 'live', 'read_code', '+821012345678', 'ko', '{{}}', '{{}}', {T0}, \
          'answered', 4, {T0}), \
         ('{tu}', '{mu}', 'test', 'read_code', '+821012345678', 'ko', '{{}}', '{{}}', {T0}, \
          'answered', 1, {T0}); \
         INSERT INTO pins (merchant_id, customer_ref, hash, updated_at) \
         VALUES ('{mu}', 'cust', '$argon2id$old', {T0}); \
         INSERT INTO idempotency_keys (merchant_id, idempotency_key, request_hash, status, \
         body, created_at) VALUES ('{mu}', 'k', 'hash of the first request', 201, '{{}}', {T0}); \
         INSERT INTO webhook_deliveries (id, merchant_id, verification_id, url, event_type, \
         payload, created_at, state, next_attempt_at) VALUES \
         ('{dlu}', '{mu}', '{lu}', 'https://m.example/h', 'verification.answered', '{{}}', \
          {T0}, 'pending', {T0}), \
         ('{dtu}', '{mu}', '{tu}', 'https://m.example/h', 'verification.answered', '{{}}', \
          {T0}, 'pending', {T0});"
    ))
    .await;
    let store = db.open().await;

    assert_eq!(
        store.pin(m, Mode::Live, "cust").await.unwrap().as_deref(),
        Some("$argon2id$old"),
        "an existing PIN is the one live calls keep checking"
    );
    assert_eq!(store.pin(m, Mode::Test, "cust").await.unwrap(), None);
    for mode in [Mode::Live, Mode::Test] {
        let stored = store
            .claim_idempotent(m, mode, "k", "hash of the first request", at(0))
            .await
            .unwrap()
            .expect("the key is kept");
        assert_eq!(
            (stored.status, stored.body.as_str()),
            (201, "{}"),
            "{mode:?}"
        );
    }
    for (mode, expected) in [(Mode::Live, to_live), (Mode::Test, to_test)] {
        let page = store.list_deliveries(m, mode, None, 10).await.unwrap();
        assert_eq!(ids(&page.items), vec![expected], "{mode:?}");
    }
    for id in [live, test] {
        let v = store.verification_by_id(id).await.unwrap().unwrap();
        assert_eq!(v.request.max_check_attempts, 4, "the merchant's setting");
    }
    assert_eq!(
        store.record_check(live, None).await.unwrap(),
        CheckRecorded::Locked,
        "a code locked before the upgrade stays locked"
    );
    assert_eq!(
        store.record_check(test, None).await.unwrap(),
        CheckRecorded::Counted { attempts: 2 }
    );
}

/// The newest migration this arsgate has.
fn newest_migration() -> u32 {
    mod embedded {
        refinery::embed_migrations!("src/store/migrations/sqlite");
    }
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(refinery::Migration::version)
        .max()
        .expect("migrations")
}

async fn a_newer_additive_schema_is_run_on(db: &TestDb) {
    // A rollback: a newer arsgate added a table (declaring nothing) and
    // an index (declaring that this arsgate's schema may run on it), then
    // this arsgate starts on the database again.
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    drop(store);
    let ours = newest_migration();
    db.migrate_as_newer(&[
        (
            "V98__later_feature",
            "CREATE TABLE later_feature (id INTEGER PRIMARY KEY, note TEXT);",
        ),
        (
            "V99__later_index",
            &format!(
                "CREATE INDEX later_feature_note ON later_feature (note); \
                 CREATE TABLE IF NOT EXISTS arsgate_schema_compat (version INTEGER PRIMARY KEY, \
                 oldest_compatible INTEGER NOT NULL, reason TEXT NOT NULL); \
                 INSERT INTO arsgate_schema_compat VALUES (99, {ours}, 'an index only');"
            ),
        ),
    ])
    .await;
    let store = db.open().await;
    assert_eq!(store.merchant(m.id).await.unwrap(), Some(m));
    merchant(&*store, "globex").await;
    // The newer arsgate's table is still there, untouched.
    db.execute_raw("INSERT INTO later_feature (id, note) VALUES (1, 'kept')")
        .await;
}

async fn a_newer_incompatible_schema_is_refused_by_name(db: &TestDb) {
    db.open().await;
    let ours = newest_migration();
    db.migrate_as_newer(&[
        (
            "V98__later_feature",
            "CREATE TABLE later_feature (id INTEGER PRIMARY KEY);",
        ),
        (
            "V99__split_phone",
            "ALTER TABLE verifications ADD COLUMN phone_country TEXT; \
             CREATE TABLE IF NOT EXISTS arsgate_schema_compat (version INTEGER PRIMARY KEY, \
             oldest_compatible INTEGER NOT NULL, reason TEXT NOT NULL); \
             INSERT INTO arsgate_schema_compat VALUES \
             (99, 99, 'verifications.phone split into phone_country and phone');",
        ),
    ])
    .await;
    let refused = match db.url().strip_prefix("sqlite:") {
        Some(path) => arsgate::store::SqliteStore::open(path).await.err(),
        None => arsgate::store::PostgresStore::connect(&db.url(), 2)
            .await
            .err(),
    };
    match refused {
        Some(StoreError::Database(why)) => assert!(
            why.contains("V99__split_phone needs an arsgate that knows V99 or later")
                && why.contains("verifications.phone split into phone_country and phone")
                && why.contains(&format!("knows up to V{ours}"))
                && !why.contains("V98"),
            "{why}"
        ),
        Some(other) => panic!("{other:?}"),
        None => panic!("the store opened on a schema that declares it incompatible"),
    }
}

// What only one backend has.

#[tokio::test]
async fn unknown_url_schemes_are_refused_without_echoing_the_rest() {
    let refused = arsgate::store::open("mysql://root:hunter2@db/arsgate").await;
    match refused {
        Err(StoreError::Database(why)) => {
            assert!(
                why.contains("\"mysql\"") && !why.contains("hunter2"),
                "{why}"
            );
        }
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("a MySQL URL opened a store"),
    }
}

#[tokio::test]
async fn sqlite_files_get_their_directories_and_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/nested/arsgate.db");
    let store = arsgate::store::open(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    merchant(&*store, "acme").await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

// Limits: channel leases and admitted calls.

fn scope(merchant: MerchantId, mode: Mode) -> LimitScope {
    LimitScope { merchant, mode }
}

/// Lease terms of a new holder, expiring at `expires`.
fn terms(max_channels: u32, expires: Timestamp) -> LeaseTerms {
    LeaseTerms {
        holder: VerificationId::new(),
        max_channels,
        expires_at: expires,
        required: true,
    }
}

/// An admission of a call to `phone` at `now` with no limits and no lease.
fn admission(merchant: MerchantId, phone: &str, now: Timestamp) -> AdmitCall {
    AdmitCall {
        scope: scope(merchant, Mode::Live),
        phone: phone.to_owned(),
        now,
        day_start: at(0),
        velocity: None,
        daily_cap: None,
        lease: None,
    }
}

async fn leases_stop_at_max_channels_and_expire(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let live = scope(m.id, Mode::Live);
    let first = terms(2, at(10_000));
    let second = terms(2, at(10_000));
    assert!(store.acquire_lease(live, &first, at(0)).await.unwrap());
    assert!(store.acquire_lease(live, &second, at(0)).await.unwrap());
    let third = terms(2, at(10_000));
    assert!(!store.acquire_lease(live, &third, at(1)).await.unwrap());
    // The sandbox has channels of its own; another merchant too.
    assert!(
        store
            .acquire_lease(scope(m.id, Mode::Test), &third, at(1))
            .await
            .unwrap()
    );
    assert!(store.release_lease(third.holder).await.unwrap());
    let other = merchant(&*store, "other").await;
    assert!(
        store
            .acquire_lease(scope(other.id, Mode::Live), &third, at(1))
            .await
            .unwrap()
    );
    assert_eq!(
        store.limit_usage(live, at(2), at(0)).await.unwrap(),
        LimitUsage {
            live_channels: 2,
            calls_today: 0
        }
    );
    // A holder asking again keeps its lease (no second channel).
    assert!(store.acquire_lease(live, &first, at(3)).await.unwrap());
    assert_eq!(
        store
            .limit_usage(live, at(3), at(0))
            .await
            .unwrap()
            .live_channels,
        2
    );
    // Released: the channel is free again, once.
    assert!(store.release_lease(first.holder).await.unwrap());
    assert!(!store.release_lease(first.holder).await.unwrap());
    let fourth = terms(2, at(5_000));
    assert!(store.acquire_lease(live, &fourth, at(4)).await.unwrap());
    assert!(
        !store
            .acquire_lease(live, &terms(2, at(9_000)), at(5))
            .await
            .unwrap()
    );
    // Renewal extends live leases only.
    let renewed = store
        .renew_leases(&[second.holder, first.holder], at(6), at(20_000))
        .await
        .unwrap();
    assert_eq!(renewed, 1, "only `second` is still held");
    // `fourth` lapses at 5 000 (never renewed): its channel is reclaimed,
    // and a lapsed lease is not renewed back.
    assert_eq!(
        store
            .limit_usage(live, at(5_000), at(0))
            .await
            .unwrap()
            .live_channels,
        1
    );
    assert_eq!(
        store
            .renew_leases(&[fourth.holder], at(5_000), at(30_000))
            .await
            .unwrap(),
        0
    );
    let fifth = terms(2, at(40_000));
    assert!(store.acquire_lease(live, &fifth, at(5_001)).await.unwrap());
    assert!(
        !store
            .acquire_lease(live, &terms(2, at(40_000)), at(5_002))
            .await
            .unwrap()
    );
    // `second` was renewed to 20 000: past that, both it and nothing else.
    assert_eq!(
        store
            .limit_usage(live, at(20_000), at(0))
            .await
            .unwrap()
            .live_channels,
        1
    );
}

async fn concurrent_leases_never_pass_max_channels(db: &TestDb) {
    let store = db.open().await;
    let other = db.open().await;
    // Several rounds, each on a merchant of its own: a race that a lock
    // failed to prevent shows up in one of them.
    for round in 0..6 {
        let m = merchant(&*store, &format!("acme-{round}")).await;
        let live = scope(m.id, Mode::Live);
        let tasks: Vec<_> = (0..24)
            .map(|i| {
                let store = if i % 2 == 0 { &store } else { &other }.clone();
                tokio::spawn(async move {
                    let terms = terms(3, at(60_000));
                    store.acquire_lease(live, &terms, at(i)).await.unwrap()
                })
            })
            .collect();
        let mut taken = 0;
        for task in tasks {
            taken += usize::from(task.await.unwrap());
        }
        assert_eq!(taken, 3, "round {round}");
        assert_eq!(
            store
                .limit_usage(live, at(100), at(0))
                .await
                .unwrap()
                .live_channels,
            3
        );
    }
}

async fn an_admission_stores_its_verification_or_nothing(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let capped = |now: Timestamp| AdmitCall {
        daily_cap: Some(1),
        ..admission(m.id, "+821012345678", now)
    };
    let usage = async || {
        store
            .limit_usage(scope(m.id, Mode::Live), at(10), at(0))
            .await
            .unwrap()
            .calls_today
    };

    // Admitted: the verification is stored by the same write.
    let first = new_verification(m.id, "read_code", at(1));
    assert_eq!(
        store
            .admit_call(&capped(at(1)), Some(&first))
            .await
            .unwrap(),
        Admission::Admitted { leased: false }
    );
    let stored = store.verification(m.id, first.id).await.unwrap();
    assert_eq!(stored.map(|v| v.state), Some(VerificationState::Pending));

    // A verification that cannot be stored (no such merchant) admits
    // nothing: the call is not counted.
    let orphan = new_verification(MerchantId::new(), "read_code", at(2));
    let error = store
        .admit_call(&admission(m.id, "+821012345678", at(2)), Some(&orphan))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::NotFound(_)), "{error:?}");
    assert_eq!(usage().await, 1);

    // Refused (the day's one call is taken): nothing is stored.
    let second = new_verification(m.id, "read_code", at(3));
    assert_eq!(
        store
            .admit_call(&capped(at(3)), Some(&second))
            .await
            .unwrap(),
        Admission::DailyCap
    );
    assert!(store.verification(m.id, second.id).await.unwrap().is_none());
    assert_eq!(usage().await, 1);
}

async fn admissions_keep_velocity_and_daily_cap(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let window = Duration::from_secs(60);
    let velocity = |now: Timestamp, phone: &str| AdmitCall {
        velocity: Some((2, window)),
        ..admission(m.id, phone, now)
    };
    let admitted = Admission::Admitted { leased: false };
    assert_eq!(
        store
            .admit_call(&velocity(at(1_000), "+821011112222"), None)
            .await
            .unwrap(),
        admitted
    );
    assert_eq!(
        store
            .admit_call(&velocity(at(2_000), "+821011112222"), None)
            .await
            .unwrap(),
        admitted
    );
    // The third within the minute waits until the first leaves the window.
    assert_eq!(
        store
            .admit_call(&velocity(at(3_000), "+821011112222"), None)
            .await
            .unwrap(),
        Admission::Velocity {
            retry_at: at(61_000)
        }
    );
    // Another number is not affected, nor is a refused call counted.
    assert_eq!(
        store
            .admit_call(&velocity(at(3_000), "+821033334444"), None)
            .await
            .unwrap(),
        admitted
    );
    assert_eq!(
        store
            .admit_call(&velocity(at(61_001), "+821011112222"), None)
            .await
            .unwrap(),
        admitted
    );
    assert_eq!(
        store
            .admit_call(&velocity(at(61_002), "+821011112222"), None)
            .await
            .unwrap(),
        Admission::Velocity {
            retry_at: at(62_000)
        }
    );
    let live = scope(m.id, Mode::Live);
    assert_eq!(
        store
            .limit_usage(live, at(61_003), at(0))
            .await
            .unwrap()
            .calls_today,
        4
    );

    // The daily cap counts every call of the scope since the day began.
    let capped = |now: Timestamp, day_start: Timestamp| AdmitCall {
        daily_cap: Some(5),
        day_start,
        ..admission(m.id, "+821055556666", now)
    };
    assert_eq!(
        store
            .admit_call(&capped(at(70_000), at(0)), None)
            .await
            .unwrap(),
        admitted
    );
    assert_eq!(
        store
            .admit_call(&capped(at(70_001), at(0)), None)
            .await
            .unwrap(),
        Admission::DailyCap
    );
    // A new day starts afresh.
    assert_eq!(
        store
            .admit_call(&capped(at(80_000), at(75_000)), None)
            .await
            .unwrap(),
        admitted
    );
    assert_eq!(
        store
            .limit_usage(live, at(80_001), at(75_000))
            .await
            .unwrap()
            .calls_today,
        1
    );

    // A required lease that cannot be had refuses the call uncounted; an
    // optional one admits it without a lease.
    let holder = terms(1, at(200_000));
    let leased = AdmitCall {
        lease: Some(holder),
        ..admission(m.id, "+821077778888", at(90_000))
    };
    assert_eq!(
        store.admit_call(&leased, None).await.unwrap(),
        Admission::Admitted { leased: true }
    );
    let full = AdmitCall {
        lease: Some(terms(1, at(200_000))),
        ..admission(m.id, "+821077778888", at(90_001))
    };
    assert_eq!(
        store.admit_call(&full, None).await.unwrap(),
        Admission::ChannelsFull
    );
    let optional = AdmitCall {
        lease: Some(LeaseTerms {
            required: false,
            ..terms(1, at(200_000))
        }),
        ..admission(m.id, "+821077778888", at(90_002))
    };
    assert_eq!(
        store.admit_call(&optional, None).await.unwrap(),
        Admission::Admitted { leased: false }
    );
    assert_eq!(
        store
            .limit_usage(live, at(90_003), at(75_000))
            .await
            .unwrap(),
        LimitUsage {
            live_channels: 1,
            calls_today: 3
        }
    );
}

async fn concurrent_admissions_never_pass_a_limit(db: &TestDb) {
    let store = db.open().await;
    let other = db.open().await;
    for round in 0..6 {
        let m = merchant(&*store, &format!("acme-{round}")).await;
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let store = if i % 2 == 0 { &store } else { &other }.clone();
                tokio::spawn(async move {
                    // Numbers 0 and 1 in turn: velocity allows 3 to each,
                    // the daily cap 5 in all, and 4 channels (optional lease).
                    let admit = AdmitCall {
                        velocity: Some((3, Duration::from_secs(600))),
                        daily_cap: Some(5),
                        lease: Some(LeaseTerms {
                            required: false,
                            ..terms(4, at(600_000))
                        }),
                        ..admission(m.id, &format!("+82101234000{}", i % 2), at(i))
                    };
                    store.admit_call(&admit, None).await.unwrap()
                })
            })
            .collect();
        let mut admitted = 0;
        let mut leased = 0;
        for task in tasks {
            if let Admission::Admitted { leased: l } = task.await.unwrap() {
                admitted += 1;
                leased += usize::from(l);
            }
        }
        assert_eq!((admitted, leased), (5, 4), "round {round}");
        let usage = store
            .limit_usage(scope(m.id, Mode::Live), at(100), at(0))
            .await
            .unwrap();
        assert_eq!(
            usage,
            LimitUsage {
                live_channels: 4,
                calls_today: 5
            }
        );
    }
}

async fn finishing_releases_the_verifications_lease(db: &TestDb) {
    let store = db.open().await;
    let m = merchant(&*store, "acme").await;
    let live = scope(m.id, Mode::Live);
    let v = verification(&*store, m.id, at(0)).await;
    let mine = LeaseTerms {
        holder: v.id(),
        ..terms(5, at(60_000))
    };
    assert!(store.acquire_lease(live, &mine, at(0)).await.unwrap());
    assert!(
        store
            .acquire_lease(live, &terms(5, at(60_000)), at(0))
            .await
            .unwrap()
    );
    assert!(
        store
            .finish(v.id(), &finish(Outcome::Completed, at(1_000)), None)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .limit_usage(live, at(1_000), at(0))
            .await
            .unwrap()
            .live_channels,
        1,
        "the other call keeps its channel"
    );
    assert!(
        !store.release_lease(v.id()).await.unwrap(),
        "released with the outcome"
    );
}
