//! What the ticket store shows on both real backends: numbering, search filters, handling
//! units, provisional deadlines and the persisted red/yellow lights with their catch-up.

mod store_support;

use rexian::pii::Pii;
use rexian::store::ticket_search::TicketFilter;
use rexian::store::units::{Contact, UnitRecord};
use rexian::store::Store;
use rexian::workflow::{Command, State, TicketType};
use store_support::*;

both!(
    numbers_are_per_day_and_unique,
    search_filters_combine,
    units_are_data_with_parents_and_contacts,
    lights_are_persisted_and_caught_up_after_downtime,
    a_deadline_past_the_calendar_is_flagged_provisional,
    group_commit_numbers_and_writes_every_ticket,
);

async fn numbers_are_per_day_and_unique(s: &Store) {
    let mk = |at: &str| {
        let at = t(at);
        async move {
            s.create_ticket(&new_ticket(TicketType::Help, "x"), &agent(), at)
                .await
                .unwrap()
                .id
        }
    };
    assert_eq!(mk("2026-11-23T09:00:00+08:00").await, "20261123-000001");
    assert_eq!(mk("2026-11-23T23:59:59+08:00").await, "20261123-000002");
    // 16:30 UTC on the 23rd is 00:30 on the 24th in Shanghai.
    assert_eq!(mk("2026-11-23T16:30:00Z").await, "20261124-000001");
    let bulk = s
        .create_tickets(
            &vec![new_ticket(TicketType::Help, "x"); 5],
            &agent(),
            t("2026-11-23T10:00:00+08:00"),
        )
        .await
        .unwrap();
    assert_eq!(bulk.last().unwrap(), "20261123-000007");
}

async fn search_filters_combine(s: &Store) {
    add_units(s).await;
    let a = dispatched(s, TicketType::Complaint, "2026-03-02T10:00:00+08:00").await;
    let b = dispatched(s, TicketType::Help, "2026-03-03T10:00:00+08:00").await;
    let mut other_line = new_ticket(TicketType::Help, "医保报销 50%_问题");
    other_line.line = "12315".into();
    let c = s
        .create_ticket(&other_line, &agent(), t("2026-03-04T10:00:00+08:00"))
        .await
        .unwrap()
        .id;
    s.set_assisting(&b, &[uid("u3")], &sup(), t("2026-03-03T11:00:00+08:00"))
        .await
        .unwrap();
    let ids = |f: TicketFilter| async move {
        s.search_tickets(&f)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(TicketFilter::default()).await,
        vec![&c, &b, &a]
            .into_iter()
            .cloned()
            .collect::<Vec<String>>()
    );
    let f = TicketFilter {
        status: Some("dispatched".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(f).await,
        vec![&b, &a].into_iter().cloned().collect::<Vec<String>>()
    );
    let f = TicketFilter {
        ticket_type: Some(TicketType::Help),
        ..Default::default()
    };
    assert_eq!(
        ids(f).await,
        vec![&c, &b].into_iter().cloned().collect::<Vec<String>>()
    );
    let f = TicketFilter {
        unit: Some("u3".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(f).await,
        vec![&b].into_iter().cloned().collect::<Vec<String>>()
    );
    let f = TicketFilter {
        line: Some("12315".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(f).await,
        vec![&c].into_iter().cloned().collect::<Vec<String>>()
    );
    // Text: LIKE wildcards in the query are taken literally.
    let f = TicketFilter {
        text: Some("50%_".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(f).await,
        vec![&c].into_iter().cloned().collect::<Vec<String>>()
    );
    let f = TicketFilter {
        text: Some("5%x".into()),
        ..Default::default()
    };
    assert!(ids(f).await.is_empty());
    let f = TicketFilter {
        created_from: Some(t("2026-03-03T00:00:00+08:00")),
        created_to: Some(t("2026-03-04T00:00:00+08:00")),
        ..Default::default()
    };
    assert_eq!(
        ids(f).await,
        vec![&b].into_iter().cloned().collect::<Vec<String>>()
    );
    // Help from 3 Mar is due 10 Mar; the complaint from 2 Mar on 23 Mar.
    let f = TicketFilter {
        overdue_at: Some(t("2026-03-11T00:00:00+08:00")),
        ..Default::default()
    };
    assert_eq!(
        ids(f).await,
        vec![&b].into_iter().cloned().collect::<Vec<String>>()
    );
    let f = TicketFilter {
        light: Some("green".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(f).await,
        vec![&b, &a].into_iter().cloned().collect::<Vec<String>>()
    );
    let f = TicketFilter {
        limit: Some(1),
        offset: Some(1),
        ..Default::default()
    };
    assert_eq!(
        ids(f).await,
        vec![&b].into_iter().cloned().collect::<Vec<String>>()
    );
    let r = s.ticket(&b).await.unwrap().unwrap();
    assert_eq!(r.assisting_units, ["u3"]);
    assert!(s.unit_sees("u3", &b).await.unwrap());
    assert!(!s.unit_sees("u3", &a).await.unwrap());
}

async fn units_are_data_with_parents_and_contacts(s: &Store) {
    let city = UnitRecord {
        id: "city".into(),
        name: "市住建局".into(),
        parent: None,
        contacts: vec![Contact {
            name: Pii::new("李科长".into()),
            phone: Pii::new("13900139000".into()),
        }],
    };
    s.add_unit(&city).await.unwrap();
    let mut sub = UnitRecord {
        id: "city-water".into(),
        name: "供水科".into(),
        parent: Some("city".into()),
        contacts: vec![],
    };
    s.add_unit(&sub).await.unwrap();
    assert!(s.add_unit(&city).await.is_err(), "duplicate id");
    let orphan = UnitRecord {
        parent: Some("nowhere".into()),
        id: "x".into(),
        ..sub.clone()
    };
    assert!(s.add_unit(&orphan).await.is_err(), "unknown parent");
    assert_eq!(s.unit("city").await.unwrap().unwrap(), city);
    sub.name = "供水管理科".into();
    s.update_unit(&sub).await.unwrap();
    assert_eq!(
        s.unit("city-water").await.unwrap().unwrap().name,
        "供水管理科"
    );
    assert!(s.remove_unit("city").await.is_err(), "still a parent");
    s.remove_unit("city-water").await.unwrap();
    s.remove_unit("city").await.unwrap();
    assert!(s.units().await.unwrap().is_empty());
}

async fn lights_are_persisted_and_caught_up_after_downtime(s: &Store) {
    add_units(s).await;
    let rules = rules();
    let id = dispatched(s, TicketType::Help, "2026-03-02T10:00:00+08:00").await;
    let r = s.ticket(&id).await.unwrap().unwrap();
    assert_eq!(r.light, "green");
    // Sign due 3 Mar 23:59:59; a quarter of 37h59m59s left from 14:30:00 on 3 Mar.
    assert_eq!(r.light_next, Some(t("2026-03-03T14:30:00+08:00")));
    assert_eq!(s.next_light_change().await.unwrap(), r.light_next);
    // Nothing is due before then.
    assert_eq!(
        s.refresh_due_lights(t("2026-03-03T14:29:59+08:00"), &rules, 100)
            .await
            .unwrap(),
        0
    );
    // The daemon was down from before yellow until after the deadline: one catch-up turns
    // it red with one history row.
    let late = t("2026-03-05T08:00:00+08:00");
    assert_eq!(s.refresh_due_lights(late, &rules, 100).await.unwrap(), 1);
    let r = s.ticket(&id).await.unwrap().unwrap();
    assert_eq!((r.light.as_str(), r.light_next), ("red", None));
    let h = s.history(&id).await.unwrap();
    let lights: Vec<_> = h.iter().filter(|e| e.kind == "light").collect();
    assert_eq!(lights.len(), 2, "green at dispatch, then red");
    assert_eq!(lights[1].payload["from"], "green");
    assert_eq!(lights[1].payload["to"], "red");
    assert_eq!(lights[1].role, "system");
    assert_eq!(lights[1].at, late);
    // A second pass changes nothing.
    assert_eq!(s.refresh_due_lights(late, &rules, 100).await.unwrap(), 0);
    assert_eq!(s.history(&id).await.unwrap().len(), h.len());
    // Signing (late) moves the light to the handling deadline: 5 wd from 2 Mar = 9 Mar.
    ok(
        s,
        &id,
        Command::Sign,
        unit("u1"),
        "2026-03-05T09:00:00+08:00",
    )
    .await;
    let r = s.ticket(&id).await.unwrap().unwrap();
    assert_eq!(r.light, "green");
    assert!(r.light_next.unwrap() < t("2026-03-09T23:59:59+08:00"));
    // Step through the remaining changes like the scheduler does.
    let mut seen = vec![];
    while let Some(next) = s.next_light_change().await.unwrap() {
        s.refresh_due_lights(next, &rules, 100).await.unwrap();
        seen.push(s.ticket(&id).await.unwrap().unwrap().light);
    }
    assert_eq!(seen, ["yellow", "red"]);
    // History of a ticket remains replayable with system rows in it.
    assert_eq!(s.ticket_state(&id).await.unwrap().state, State::Signed);
}

async fn a_deadline_past_the_calendar_is_flagged_provisional(s: &Store) {
    add_units(s).await;
    let id = dispatched(s, TicketType::Complaint, "2026-12-28T10:00:00+08:00").await;
    let r = s.ticket(&id).await.unwrap().unwrap();
    assert!(r.provisional);
    assert!(r.deadline.unwrap() > t("2027-01-01T00:00:00+08:00"));
}

async fn group_commit_numbers_and_writes_every_ticket(s: &Store) {
    use rexian::store::ticket_group::GroupCreator;
    use rexian::store::tickets::TicketError;
    let g = GroupCreator::spawn(s.clone(), 16);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let g = g.clone();
        tasks.push(tokio::spawn(async move {
            g.create(
                new_ticket(TicketType::Help, &format!("诉求 {i}")),
                agent(),
                t("2026-11-23T10:00:00+08:00"),
            )
            .await
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().unwrap());
    }
    ids.sort();
    let expected: Vec<String> = (1..=50).map(|n| format!("20261123-{n:06}")).collect();
    assert_eq!(ids, expected);
    for id in &ids {
        assert_eq!(kinds(s, id).await, ["created"]);
    }
    // Refusals are answered before a group is formed, and write nothing.
    let e = g
        .create(
            new_ticket(TicketType::Help, " "),
            agent(),
            t("2026-11-23T10:00:00+08:00"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, TicketError::Invalid(_)));
    let e = g
        .create(
            new_ticket(TicketType::Help, "x"),
            unit("u1"),
            t("2026-11-23T10:00:00+08:00"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, TicketError::Refused { .. }));
    assert_eq!(
        s.search_tickets(&TicketFilter {
            limit: Some(500),
            ..Default::default()
        })
        .await
        .unwrap()
        .len(),
        50
    );
}
