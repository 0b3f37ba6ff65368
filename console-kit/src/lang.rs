//! The language of a request and dates as each language writes them. A console maps a [`Lang`]
//! to its own table of words; the choice is the same everywhere: `?lang=`, then the `mpx_lang`
//! cookie, then the first Chinese or English range of `Accept-Language`, else Chinese.

use axum::http::HeaderMap;

/// The languages the consoles speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

/// The cookie that remembers a `?lang=` choice.
pub const LANG_COOKIE: &str = "mpx_lang";

impl Lang {
    /// The language a `?lang=` or cookie value names, if any.
    pub fn by_code(code: &str) -> Option<Self> {
        match code.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" | "zh-hans" => Some(Self::Zh),
            "en" | "en-us" | "en-gb" => Some(Self::En),
            _ => None,
        }
    }

    /// Its `?lang=` value.
    pub fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh",
            Self::En => "en",
        }
    }

    /// The language of a request: `?lang=`, then the cookie, then `Accept-Language`, else
    /// Chinese.
    pub fn choose(query_lang: Option<&str>, headers: &HeaderMap) -> Self {
        if let Some(lang) = query_lang.and_then(Self::by_code) {
            return lang;
        }
        if let Some(lang) =
            crate::session::cookie(headers, LANG_COOKIE).and_then(|value| Self::by_code(&value))
        {
            return lang;
        }
        let accept = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        for range in accept.split(',') {
            let tag = range
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if tag.starts_with("zh") {
                return Self::Zh;
            }
            if tag.starts_with("en") {
                return Self::En;
            }
        }
        Self::Zh
    }

    /// A day as this language writes it: 2026年12月17日, or 2026-12-17; "—" for none.
    pub fn date(self, unix_ms: i64) -> String {
        if unix_ms <= 0 {
            return "—".into();
        }
        match mpx_proto::time::date_of_unix_ms(unix_ms) {
            Some(date) => self.calendar_date(date),
            None => "—".into(),
        }
    }

    /// A calendar date as this language writes it.
    pub fn calendar_date(self, date: jiff::civil::Date) -> String {
        match self {
            Self::Zh => format!("{}年{}月{}日", date.year(), date.month(), date.day()),
            Self::En => date.to_string(),
        }
    }

    /// An instant to the minute, in the province's time zone.
    pub fn instant(self, unix_ms: i64) -> String {
        let Ok(timestamp) = jiff::Timestamp::from_millisecond(unix_ms) else {
            return "—".into();
        };
        let local = timestamp.to_zoned_datetime(mpx_proto::time::province_time_zone());
        let time = format!("{:02}:{:02}", local.hour(), local.minute());
        format!("{} {time}", self.date(unix_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn query_then_cookie_then_accept_language_then_chinese() {
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::choose(None, &headers), Lang::Zh);
        headers.insert("accept-language", HeaderValue::from_static("fr, en;q=0.9"));
        assert_eq!(Lang::choose(None, &headers), Lang::En);
        headers.insert("cookie", HeaderValue::from_static("a=b; mpx_lang=zh-CN"));
        assert_eq!(Lang::choose(None, &headers), Lang::Zh);
        assert_eq!(Lang::choose(Some("EN"), &headers), Lang::En);
        assert_eq!(Lang::choose(Some("fr"), &headers), Lang::Zh);
    }

    #[test]
    fn dates_in_chinese_and_iso() {
        // 2026-12-17 10:00 in Asia/Shanghai.
        let ms = 1_797_472_800_000;
        assert_eq!(Lang::Zh.date(ms), "2026年12月17日");
        assert_eq!(Lang::En.date(ms), "2026-12-17");
        assert_eq!(Lang::En.instant(ms), "2026-12-17 10:00");
        assert_eq!(Lang::Zh.date(0), "—");
    }
}
