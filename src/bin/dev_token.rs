//! Prints an HS256 dev token for an organization, signed with `JWT_SECRET`.
//! Usage: dev-token <org> [ttl-seconds]

use lead_export::auth::sign_hs256;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(org), ttl) = (args.next(), args.next()) else {
        eprintln!("usage: dev-token <org> [ttl-seconds]");
        std::process::exit(2);
    };
    let ttl: i64 = match ttl.as_deref().map(str::parse).unwrap_or(Ok(3600)) {
        Ok(t) if t > 0 => t,
        _ => {
            eprintln!("ttl-seconds must be a positive whole number");
            std::process::exit(2);
        }
    };
    let Some(secret) = std::env::var("JWT_SECRET").ok().filter(|s| !s.is_empty()) else {
        eprintln!("JWT_SECRET is not set");
        std::process::exit(2);
    };
    let claim = std::env::var("JWT_ORG_CLAIM").unwrap_or_else(|_| "org_id".into());
    let non_empty = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (iss, aud) = (non_empty("JWT_ISSUER"), non_empty("JWT_AUDIENCE"));
    match sign_hs256(
        secret.as_bytes(),
        &claim,
        &org,
        ttl,
        iss.as_deref(),
        aud.as_deref(),
    ) {
        Ok(token) => println!("{token}"),
        Err(e) => {
            eprintln!("cannot sign: {e}");
            std::process::exit(1);
        }
    }
}
