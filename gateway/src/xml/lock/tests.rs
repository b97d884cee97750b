use super::*;

const Y2030: i64 = 1_893_456_000 * NANOS_PER_SEC; // 2030-01-01T00:00:00Z
const NOW: i64 = 1_767_225_600 * NANOS_PER_SEC; // 2026-01-01T00:00:00Z

fn lock_code(body: &str) -> ErrorCode {
    ObjectLockConfiguration::parse(body.as_bytes())
        .unwrap_err()
        .code
}

fn rule(inner: &str) -> String {
    format!("<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention>{inner}</DefaultRetention></Rule></ObjectLockConfiguration>")
}

#[test]
fn configuration_round_trips() {
    for config in [
        ObjectLockConfiguration::default(),
        ObjectLockConfiguration {
            default_retention: Some(DefaultRetention {
                mode: RetentionMode::Governance,
                period: RetentionPeriod::Days(1),
            }),
        },
        ObjectLockConfiguration {
            default_retention: Some(DefaultRetention {
                mode: RetentionMode::Compliance,
                period: RetentionPeriod::Years(100),
            }),
        },
    ] {
        let xml = config.to_xml();
        assert!(xml.contains("<ObjectLockConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><ObjectLockEnabled>Enabled</ObjectLockEnabled>"), "{xml}");
        assert_eq!(
            ObjectLockConfiguration::parse(xml.as_bytes()).unwrap(),
            config
        );
    }
    let parsed = ObjectLockConfiguration::parse(
        rule("<Mode>COMPLIANCE</Mode><Days>36500</Days>").as_bytes(),
    )
    .unwrap();
    assert_eq!(
        parsed.default_retention.unwrap().period,
        RetentionPeriod::Days(36_500)
    );
}

#[test]
fn configuration_structure_is_malformed() {
    for body in [
        "<ObjectLockConfiguration/>".to_string(),
        "<ObjectLockConfiguration><ObjectLockEnabled>Disabled</ObjectLockEnabled></ObjectLockConfiguration>".to_string(),
        "<ObjectLockConfiguration><ObjectLockEnabled>enabled</ObjectLockEnabled></ObjectLockConfiguration>".to_string(),
        "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule/></ObjectLockConfiguration>".to_string(),
        "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Other/></ObjectLockConfiguration>".to_string(),
        rule("<Mode>COMPLIANCE</Mode><Days>1</Days><Years>1</Years>"),
        rule("<Mode>COMPLIANCE</Mode>"),
        rule("<Days>1</Days>"),
        rule("<Mode>governance</Mode><Days>1</Days>"),
        rule("<Mode>invalid_mode</Mode><Days>1</Days>"),
        rule("<Mode>GOVERNANCE</Mode><Days>one</Days>"),
        rule("<Mode>GOVERNANCE</Mode><Days>1.5</Days>"),
        rule("<Mode>GOVERNANCE</Mode><Days>2147483648</Days>"),
        rule("<Mode>GOVERNANCE</Mode><Days>1</Days><Extra/>"),
    ] {
        assert_eq!(lock_code(&body), ErrorCode::MalformedXML, "{body}");
    }
}

#[test]
fn bad_periods() {
    for inner in [
        "<Mode>GOVERNANCE</Mode><Days>0</Days>",
        "<Mode>GOVERNANCE</Mode><Days>-50</Days>",
        "<Mode>COMPLIANCE</Mode><Years>0</Years>",
    ] {
        let err = ObjectLockConfiguration::parse(rule(inner).as_bytes()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument, "{inner}");
        assert_eq!(
            err.message,
            "Default retention period must be a positive integer value."
        );
    }
    let err =
        ObjectLockConfiguration::parse(rule("<Mode>GOVERNANCE</Mode><Days>0</Days>").as_bytes())
            .unwrap_err();
    assert_eq!(err.extra, vec![("ArgumentName", "Days".to_string())]);
    assert_eq!(
        lock_code(&rule("<Mode>GOVERNANCE</Mode><Days>36501</Days>")),
        ErrorCode::InvalidRetentionPeriod
    );
    assert_eq!(
        lock_code(&rule("<Mode>GOVERNANCE</Mode><Years>101</Years>")),
        ErrorCode::InvalidRetentionPeriod
    );
}

#[test]
fn default_retention_until() {
    let days = DefaultRetention {
        mode: RetentionMode::Governance,
        period: RetentionPeriod::Days(30),
    };
    assert_eq!(days.retain_until_ns(NOW + 7), NOW + 7 + 30 * NANOS_PER_DAY);
    let years = DefaultRetention {
        mode: RetentionMode::Compliance,
        period: RetentionPeriod::Years(4),
    };
    let now = parse_retain_until("2026-06-15T10:20:30.123Z").unwrap();
    assert_eq!(
        format_retain_until(years.retain_until_ns(now)),
        "2030-06-15T10:20:30.123Z"
    );
    let leap_day = parse_retain_until("2028-02-29T12:00:00Z").unwrap();
    let one_year = DefaultRetention {
        mode: RetentionMode::Compliance,
        period: RetentionPeriod::Years(1),
    };
    assert_eq!(
        format_retain_until(one_year.retain_until_ns(leap_day)),
        "2029-03-01T12:00:00.000Z"
    );
    let four = DefaultRetention {
        period: RetentionPeriod::Years(4),
        ..one_year
    };
    assert_eq!(
        format_retain_until(four.retain_until_ns(leap_day)),
        "2032-02-29T12:00:00.000Z"
    );
    let r = years.retention_at(now);
    assert_eq!(r.mode, RetentionMode::Compliance);
    assert!(r.retain_until_ns >= now + 4 * 365 * NANOS_PER_DAY);
}

#[test]
fn dates_parse_and_format_as_s3() {
    assert_eq!(parse_retain_until("2030-01-01T00:00:00Z"), Some(Y2030));
    assert_eq!(parse_retain_until("2030-01-01T00:00:00.000Z"), Some(Y2030));
    assert_eq!(
        parse_retain_until("2030-01-01T00:00:00.5Z"),
        Some(Y2030 + NANOS_PER_SEC / 2)
    );
    assert_eq!(
        parse_retain_until("2030-01-01T00:00:00.123456789Z"),
        Some(Y2030 + 123_000_000)
    );
    for bad in [
        "2030-01-01",
        "2030-01-01T00:00:00",
        "2030-01-01T00:00:00+01:00",
        "2030-13-01T00:00:00Z",
        "2030-01-01T00:00:00.Z",
        "2030-01-01T00:00:00.1234567890Z",
        "Tue, 01 Jan 2030 00:00:00 GMT",
    ] {
        assert_eq!(parse_retain_until(bad), None, "{bad}");
    }
    assert_eq!(format_retain_until(Y2030), "2030-01-01T00:00:00.000Z");
}

#[test]
fn retention_round_trips_and_validates() {
    let r = Retention {
        mode: RetentionMode::Governance,
        retain_until_ns: Y2030 + 123_000_000,
    };
    let xml = r.to_xml();
    assert!(xml.contains("<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>GOVERNANCE</Mode><RetainUntilDate>2030-01-01T00:00:00.123Z</RetainUntilDate></Retention>"), "{xml}");
    assert_eq!(Retention::parse(xml.as_bytes()).unwrap(), Some(r));
    assert_eq!(Retention::parse(b"<Retention/>").unwrap(), None);
    assert_eq!(
        Retention::parse(br#"<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Mode>COMPLIANCE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate></Retention>"#)
            .unwrap()
            .map(|r| r.retain_until_ns),
        Some(Y2030)
    );
    for bad in [
        "<Retention><Mode>GOVERNANCE</Mode></Retention>",
        "<Retention><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate></Retention>",
        "<Retention><Mode>LOCKED</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate></Retention>",
        "<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>soon</RetainUntilDate></Retention>",
        "<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate><X/></Retention>",
        "<ObjectRetention/>",
    ] {
        assert_eq!(
            Retention::parse(bad.as_bytes()).unwrap_err().code,
            ErrorCode::MalformedXML,
            "{bad}"
        );
    }
    assert!(r.check_in_future(NOW).is_ok());
    let err = r.check_in_future(Y2030 + 123_000_000).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    assert_eq!(err.message, "The retain until date must be in the future!");
}

#[test]
fn legal_hold_round_trips() {
    for status in [LegalHoldStatus::On, LegalHoldStatus::Off] {
        let hold = LegalHold { status };
        let xml = hold.to_xml();
        assert!(xml.ends_with(&format!(
            "<LegalHold xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>{}</Status></LegalHold>",
            status.as_str()
        )));
        assert_eq!(LegalHold::parse(xml.as_bytes()).unwrap(), hold);
    }
    for bad in [
        "<LegalHold/>",
        "<LegalHold><Status>on</Status></LegalHold>",
        "<LegalHold><Status>ON</Status><Status>OFF</Status></LegalHold>",
        "<LegalHold><Status>ON</Status><X/></LegalHold>",
    ] {
        assert_eq!(
            LegalHold::parse(bad.as_bytes()).unwrap_err().code,
            ErrorCode::MalformedXML,
            "{bad}"
        );
    }
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(
            HeaderName::from_static(name),
            HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
    }
    map
}

fn header_err(pairs: &[(&'static str, &str)]) -> S3Error {
    parse_lock_headers(&headers(pairs), NOW).unwrap_err()
}

#[test]
fn lock_headers() {
    assert_eq!(parse_lock_headers(&headers(&[]), NOW).unwrap(), None);
    let request = parse_lock_headers(
        &headers(&[
            (MODE_HEADER, "COMPLIANCE"),
            (RETAIN_UNTIL_HEADER, "2030-01-01T00:00:00.000Z"),
            (LEGAL_HOLD_HEADER, "ON"),
        ]),
        NOW,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        request.retention,
        Some(Retention {
            mode: RetentionMode::Compliance,
            retain_until_ns: Y2030
        })
    );
    assert_eq!(request.legal_hold, Some(LegalHoldStatus::On));
    let hold_only = parse_lock_headers(&headers(&[(LEGAL_HOLD_HEADER, "OFF")]), NOW)
        .unwrap()
        .unwrap();
    assert_eq!(hold_only.retention, None);
    assert_eq!(hold_only.legal_hold, Some(LegalHoldStatus::Off));

    let both =
        "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied";
    let err = header_err(&[(MODE_HEADER, "GOVERNANCE")]);
    assert_eq!(
        (err.code, &*err.message),
        (ErrorCode::InvalidArgument, both)
    );
    let err = header_err(&[(RETAIN_UNTIL_HEADER, "2030-01-01T00:00:00Z")]);
    assert_eq!(
        (err.code, &*err.message),
        (ErrorCode::InvalidArgument, both)
    );
    let err = header_err(&[
        (MODE_HEADER, "invalid_mode"),
        (RETAIN_UNTIL_HEADER, "2030-01-01T00:00:00Z"),
    ]);
    assert_eq!(
        (err.code, &*err.message),
        (ErrorCode::InvalidArgument, "Unknown wormMode directive.")
    );
    let err = header_err(&[
        (MODE_HEADER, "GOVERNANCE"),
        (RETAIN_UNTIL_HEADER, "2025-12-25T12:00:00Z"),
    ]);
    assert_eq!(
        (err.code, &*err.message),
        (
            ErrorCode::InvalidArgument,
            "The retain until date must be in the future!"
        )
    );
    assert!(err
        .extra
        .contains(&("ArgumentValue", "2025-12-25T12:00:00Z".to_string())));
    let err = header_err(&[
        (MODE_HEADER, "GOVERNANCE"),
        (RETAIN_UNTIL_HEADER, "06/06/2030"),
    ]);
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    let err = header_err(&[(LEGAL_HOLD_HEADER, "yes")]);
    assert_eq!(
        (err.code, &*err.message),
        (
            ErrorCode::InvalidArgument,
            "Legal Hold must be either of 'ON' or 'OFF'"
        )
    );
    assert_eq!(
        header_err(&[
            (MODE_HEADER, "GOVERNANCE\u{e9}"),
            (RETAIN_UNTIL_HEADER, "x")
        ])
        .code,
        ErrorCode::InvalidArgument
    );
}

#[test]
fn response_headers_and_helpers() {
    let r = Retention {
        mode: RetentionMode::Governance,
        retain_until_ns: Y2030,
    };
    let out = lock_response_headers(Some(&r), Some(LegalHoldStatus::On));
    let text: Vec<(String, String)> = out
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(
        text,
        [
            (MODE_HEADER.to_string(), "GOVERNANCE".to_string()),
            (
                RETAIN_UNTIL_HEADER.to_string(),
                "2030-01-01T00:00:00.000Z".to_string()
            ),
            (LEGAL_HOLD_HEADER.to_string(), "ON".to_string()),
        ]
    );
    assert!(lock_response_headers(None, None).is_empty());
    assert_eq!(
        bucket_missing_lock_configuration().code,
        ErrorCode::InvalidRequest
    );
    assert_eq!(lock_needs_versioning().status(), http::StatusCode::CONFLICT);
    assert_eq!(versioning_locked().code, ErrorCode::InvalidBucketState);
}
