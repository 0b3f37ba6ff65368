//! The registry's own words for a dispute or a refused piece of evidence, said in Chinese for
//! the Chinese pages. The registry records them in English (`compliance::merge`, `verify`);
//! each known kind of reason gets its Chinese sentence, and the recorded text is always shown
//! beside it, so nothing is lost if a reason is new or worded otherwise.

use super::i18n::Msgs;

/// A reason in the page's language: for English the recorded text; for Chinese the sentence
/// of its kind (the recorded text follows it on the page), or `None` when the kind is unknown.
fn gloss(
    reason: &str,
    table: &[(&[&str], &'static str)],
    t: &'static Msgs,
) -> Option<&'static str> {
    if t.lang == "en" {
        return None;
    }
    table
        .iter()
        .find(|(needles, _)| needles.iter().all(|needle| reason.contains(needle)))
        .map(|(_, zh)| *zh)
}

/// What `compliance::merge` and `dispute_of` record as a case's dispute, by kind.
const DISPUTES: &[(&[&str], &str)] = &[
    (
        &["two different signed receipts"],
        "双方提交的签名回执不一致（签收时间或时限不同）",
    ),
    (
        &[
            "the receipt says received at",
            "after it reached the requester",
        ],
        "回执签收时间晚于请求方收到回执的时间",
    ),
    (
        &["the receipt says received at", "before the case was opened"],
        "回执签收时间早于案件发出时间",
    ),
    (
        &["assigned by the province", "taken in by county", "only at"],
        "省级交办后，承办县过久才签收",
    ),
    (
        &["assigned by the province", "not yet taken in"],
        "省级交办后，承办县至今未签收",
    ),
    (
        &["a response signed at", "after it reached the requester"],
        "答复签名时间晚于请求方收到答复的时间",
    ),
    (
        &["a response signed at", "reached the requester only at"],
        "答复签名后过久才到达请求方",
    ),
    (
        &["two different signed acceptances"],
        "双方提交的受理签名时间不一致",
    ),
    (
        &["two different signed responses"],
        "双方提交的答复签名时间不一致",
    ),
    (
        &["signed a response at", "has not reported receiving"],
        "承办方已签名答复，请求方未上报收到该答复",
    ),
    (
        &["reports receiving the case at", "holds no receipt"],
        "承办方上报已签收，请求方没有该签名回执",
    ),
];

/// What `compliance::verify` records when a piece of evidence does not verify, by kind.
const REJECTIONS: &[(&[&str], &str)] = &[
    (
        &["no certificate of county"],
        "注册中心没有承办县的证书，无法验证",
    ),
    (
        &["a delivery without the signed receipt"],
        "送达事件缺少签名回执",
    ),
    (&["is not a STORED receipt"], "回执不是“已存储”回执"),
    (&["does not verify against"], "签名与承办县的证书不符"),
    (&["the receipt is for case"], "回执属于其他案件"),
    (
        &["the signed due date", "is not what calendar"],
        "回执所签时限与工作日历和时限规则不符",
    ),
    (&["without the signed response"], "缺少签名答复"),
    (&["the response is for another case"], "答复属于其他案件"),
    (&["carries a"], "事件与所附答复的类型不符"),
];

/// A dispute's reason in the page's language (`None`: show the recorded text alone).
pub fn dispute(reason: &str, t: &'static Msgs) -> Option<&'static str> {
    gloss(reason, DISPUTES, t).or_else(|| (t.lang != "en").then_some("双方记录不一致"))
}

/// Why evidence was refused, in the page's language (`None`: the recorded text alone). The
/// store keeps it as `rejected: …` or the bare reason.
pub fn rejection(reason: &str, t: &'static Msgs) -> Option<&'static str> {
    gloss(reason, REJECTIONS, t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::{CaseRecord, dispute_of};
    use crate::console::i18n::{EN, ZH};

    #[test]
    fn the_registrys_own_dispute_reasons_have_their_chinese_sentence() {
        // The reasons as `dispute_of` words them today.
        let unanswered = CaseRecord {
            requester_county: "621202".into(),
            recipient_county: "621221".into(),
            response_by_recipient: true,
            requester_reported_at_unix_ms: 1,
            responded_at_unix_ms: 1_000,
            ..Default::default()
        };
        let reason = dispute_of(&unanswered, 10_000, 1_000).unwrap();
        assert_eq!(
            dispute(&reason, &ZH),
            Some("承办方已签名答复，请求方未上报收到该答复")
        );
        let no_receipt = CaseRecord {
            requester_county: "621202".into(),
            recipient_county: "621221".into(),
            receipt_by_recipient: true,
            requester_reported_at_unix_ms: 1,
            delivered_at_unix_ms: 1_000,
            ..Default::default()
        };
        let reason = dispute_of(&no_receipt, 10_000, 1_000).unwrap();
        assert_eq!(
            dispute(&reason, &ZH),
            Some("承办方上报已签收，请求方没有该签名回执")
        );
        // English pages show the registry's text as it is; an unknown reason still gets words.
        assert_eq!(dispute(&reason, &EN), None);
        assert_eq!(dispute("something new", &ZH), Some("双方记录不一致"));
    }

    #[test]
    fn refused_evidence_is_said_in_chinese_and_unknown_reasons_stay_as_recorded() {
        assert_eq!(
            rejection(
                "rejected: the response does not verify against county 621221's certificate",
                &ZH
            ),
            Some("签名与承办县的证书不符")
        );
        assert_eq!(rejection("rejected: something else", &ZH), None);
        assert_eq!(
            rejection("a delivery without the signed receipt", &EN),
            None
        );
    }
}
