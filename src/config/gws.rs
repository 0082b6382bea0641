//! The keys under `[gws]` that need more than a type check: the API URL (scheme, user info,
//! plain HTTP, the `/api/v2` root) and the password and its sources.

use std::path::Path;

use secrecy::SecretString;

use super::CREDENTIAL_NAME;

/// `url` with any `user:password@` replaced by `***@`, for messages.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return match url.rfind('@') {
            Some(at) => format!("***@{}", &url[at + 1..]),
            None => url.to_owned(),
        };
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..scheme_end], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Whether `url` names a host that is this machine: `localhost` or a loopback address.
pub(super) fn loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The path every GWS API URL ends with.
const API_ROOT: &str = "/api/v2";

/// Check `gws.api_url`: http(s), no user info, the `/api/v2` root, and plain HTTP only to this
/// machine unless allowed. Returns whether it is valid and the warning to give, if any.
/// Messages never show user info.
pub(super) fn check_api_url(
    url: &str,
    allow_plain_http: bool,
    problems: &mut Vec<String>,
) -> (bool, Option<String>) {
    let shown = redact_url(url);
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        problems.push(format!(
            "gws.api_url: \"{shown}\" must start with http:// or https:// and include {API_ROOT}"
        ));
        return (false, None);
    }
    let parsed = match reqwest::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(e) => {
            problems.push(format!("gws.api_url: \"{shown}\" is not a URL ({e})"));
            return (false, None);
        }
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        problems.push(
            "gws.api_url: must not contain a user name or password (`user:password@`); give \
             them in gws.username and gws.password_file (the URL is not shown here)"
                .into(),
        );
        return (false, None);
    }
    if !parsed.path().trim_end_matches('/').ends_with(API_ROOT)
        || parsed.query().is_some()
        || parsed.fragment().is_some()
    {
        let root = format!(
            "{}://{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or_default()
        );
        problems.push(format!(
            "gws.api_url: \"{shown}\" must be the API root ending in {API_ROOT}, without query \
             (for example: \"{root}{}{API_ROOT}\")",
            parsed.port().map(|p| format!(":{p}")).unwrap_or_default()
        ));
        return (false, None);
    }
    if parsed.scheme() == "http" && !loopback(&parsed) {
        let host = parsed.host_str().unwrap_or_default();
        if !allow_plain_http {
            problems.push(format!(
                "gws.api_url: plain http:// to {host} would send the agent's password in clear \
                 text with every request; use https://, or set gws.allow_plain_http = true on a \
                 network you trust"
            ));
            return (false, None);
        }
        return (
            true,
            Some(format!(
                "gws.allow_plain_http = true: the agent's password goes to {host} in clear text \
                 (http://) with every request; use https:// unless the network is trusted"
            )),
        );
    }
    (true, None)
}

/// The password comes from exactly one of: `gws.password`, `gws.password_file`, or the systemd
/// credential `gws-password`.
pub(super) fn resolve_password(
    password: Option<String>,
    password_file: Option<String>,
    credentials_dir: Option<&Path>,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Option<SecretString> {
    match (password, password_file) {
        (Some(_), Some(_)) => {
            problems.push("gws.password and gws.password_file are both set: keep only one".into());
            None
        }
        (Some(p), None) if p.is_empty() => {
            problems.push("gws.password: must not be empty".into());
            None
        }
        (Some(p), None) => Some(SecretString::from(p)),
        (None, Some(file)) => {
            let path = Path::new(&file);
            warnings.extend(readable_by_others(path, "gws.password_file"));
            read_password_file(path, "gws.password_file", problems)
        }
        (None, None) => {
            let credential = credentials_dir.map(|d| d.join(CREDENTIAL_NAME));
            match credential {
                Some(path) if path.exists() => {
                    read_password_file(&path, "systemd credential", problems)
                }
                _ => {
                    problems.push(
                        "gws.password: missing (set gws.password, gws.password_file, \
                         GWS_BOTD__GWS__PASSWORD, or a systemd credential named gws-password)"
                            .into(),
                    );
                    None
                }
            }
        }
    }
}

/// A warning when the file at `path` may be read by its group or by others.
fn readable_by_others(path: &Path, what: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & 0o044 != 0).then(|| {
        format!(
            "{what}: {} is readable by {} (mode {mode:04o}); make it readable by the bot's user \
             alone (chmod 600), or use a systemd credential",
            path.display(),
            if mode & 0o004 != 0 {
                "everyone"
            } else {
                "its group"
            }
        )
    })
}

/// Read a password file; problems name the file, never its content.
fn read_password_file(path: &Path, what: &str, problems: &mut Vec<String>) -> Option<SecretString> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let p = s.trim_end_matches(['\r', '\n']);
            if p.is_empty() {
                problems.push(format!("{what}: {} is empty", path.display()));
                None
            } else {
                Some(SecretString::from(p.to_owned()))
            }
        }
        Err(e) => {
            problems.push(format!("{what}: cannot read {}: {e}", path.display()));
            None
        }
    }
}
