//! A county node restored from a backup (issue 17): what it says of its recovery with each
//! directory refresh ([`Recovery`]), and the province alert a new restore raises
//! ([`restore_alert`]), once per county and backup.
//!
//! The alert is about a county, not a case: its case id is a key of its own
//! (`restore/<county>/<backup instant>`, [`restore_case_id`]), which the alerts' uniqueness
//! per case and kind turns into "once per county and backup". Its detail says it in Chinese
//! then English, as the command line shows it; the console shows the half in its language
//! ([`restore_detail_in`]).

use mpx_proto::division::DivisionTable;

use super::RaisedAlert;

/// The kind of province alert a restore raises (`ProvinceAlert.kind`).
pub const RESTORED: &str = "RESTORED";

/// Between the Chinese and the English sentence of a restore alert's detail.
const DETAIL_SEPARATOR: &str = " / ";

/// A node's restore and its recovery from its peers, as the node said at its last directory
/// refresh (`GetDirectoryRequest.restored_backup_of_unix_ms` and `recovery_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The instant of the newest record in the backup the node was restored from (0: never).
    pub backup_of_unix_ms: i64,
    /// Peers still to answer.
    pub peers_pending: i64,
    /// Messages peers replayed to it.
    pub replayed: i64,
    /// Its own sent messages rebuilt from peers' inboxes.
    pub rebuilt: i64,
    /// Items a clerk must look at.
    pub needs_clerk: i64,
}

impl Recovery {
    /// Whether the node was ever restored from a backup.
    pub fn restored(&self) -> bool {
        self.backup_of_unix_ms > 0
    }

    /// Whether every peer has answered.
    pub fn recovered(&self) -> bool {
        self.peers_pending == 0
    }
}

/// The case id of the restore alert of `county` from the backup of `backup_of_unix_ms`.
pub fn restore_case_id(county: &str, backup_of_unix_ms: i64) -> String {
    format!("restore/{county}/{backup_of_unix_ms}")
}

/// The alert of `county` (named `directory_name` in the directory; empty: the shipped table's
/// name) restored from a backup, with its recovery as the node first said it.
pub fn restore_alert(county: &str, directory_name: &str, recovery: &Recovery) -> RaisedAlert {
    let name = match directory_name.trim() {
        "" => DivisionTable::shipped()
            .county_name(county)
            .unwrap_or_default(),
        name => name,
    };
    let label = if name.is_empty() {
        county.to_string()
    } else {
        format!("{county} {name}")
    };
    let backup = mpx_proto::time::format_unix_ms(recovery.backup_of_unix_ms);
    let replayed = recovery.replayed;
    let (chinese, english) = if recovery.recovered() {
        (
            format!("{label} 从 {backup} 的备份恢复；已从各节点恢复完毕，已重放 {replayed} 条消息"),
            format!(
                "county {label} restored a backup of {backup}; recovered from its peers, {replayed} messages replayed"
            ),
        )
    } else {
        let peers = recovery.peers_pending;
        (
            format!(
                "{label} 从 {backup} 的备份恢复；正在向 {peers} 个节点恢复，已重放 {replayed} 条消息"
            ),
            format!(
                "county {label} restored a backup of {backup}; recovering from {peers} peers, {replayed} messages replayed"
            ),
        )
    };
    RaisedAlert {
        kind: RESTORED,
        county: county.to_string(),
        counterpart_county: String::new(),
        detail: format!("{chinese}{DETAIL_SEPARATOR}{english}"),
    }
}

/// A restore alert's detail in one language: the Chinese sentence, or with `english` the
/// English one (the whole detail when it is not in two parts).
pub fn restore_detail_in(detail: &str, english: bool) -> &str {
    match detail.split_once(DETAIL_SEPARATOR) {
        Some((chinese, english_text)) => {
            if english {
                english_text
            } else {
                chinese
            }
        }
        None => detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_is_said_in_chinese_then_english_with_the_county_and_backup() {
        // 2026-12-03 10:00 in Asia/Shanghai.
        let backup_of = 1_796_263_200_000;
        let recovering = Recovery {
            backup_of_unix_ms: backup_of,
            peers_pending: 3,
            replayed: 507,
            ..Default::default()
        };
        let alert = restore_alert("621221", "", &recovering);
        assert_eq!(alert.kind, "RESTORED");
        assert_eq!(
            restore_detail_in(&alert.detail, false),
            "621221 成县 从 2026-12-03 10:00 的备份恢复；正在向 3 个节点恢复，已重放 507 条消息"
        );
        assert_eq!(
            restore_detail_in(&alert.detail, true),
            "county 621221 成县 restored a backup of 2026-12-03 10:00; recovering from 3 peers, 507 messages replayed"
        );
        let done = Recovery {
            peers_pending: 0,
            ..recovering
        };
        let alert = restore_alert("621221", "成县（试点）", &done);
        assert!(
            alert.detail.starts_with(
                "621221 成县（试点） 从 2026-12-03 10:00 的备份恢复；已从各节点恢复完毕"
            ),
            "{}",
            alert.detail
        );
        assert_eq!(
            restore_case_id("621221", backup_of),
            "restore/621221/1796263200000"
        );
        assert_eq!(restore_detail_in("unanswered", true), "unanswered");
    }
}
