//! Checks of the secret settings: refused when they are the examples' placeholder or equal to
//! one another, warned about when short.

use super::{Secret, Settings, SettingsError};

/// The secret settings, each with the flag and variable that set it.
const SECRET_NAMES: [&str; 3] = [
    "--jwt-secret / NOTIFY_JWT_SECRET",
    "--publish-key / NOTIFY_PUBLISH_KEY",
    "--metrics-key / NOTIFY_METRICS_KEY",
];

/// Values the shipped examples use as placeholders; a secret equal to one was never set.
const EXAMPLE_SECRETS: [&str; 2] = ["change-me", "changeme"];

/// Shortest secret not warned about: 32 bytes, as much as HS256's hash output.
pub const MIN_SECRET_BYTES: usize = 32;

impl Settings {
    fn secrets(&self) -> [(&'static str, Option<&Secret>); 3] {
        [
            (SECRET_NAMES[0], self.jwt_secret.as_ref()),
            (SECRET_NAMES[1], self.publish_key.as_ref()),
            (SECRET_NAMES[2], self.metrics_key.as_ref()),
        ]
    }

    pub(super) fn validate_secrets(&self) -> Result<(), SettingsError> {
        let secrets = self.secrets();
        for (name, secret) in secrets {
            if let Some(s) = secret
                && EXAMPLE_SECRETS.contains(&s.expose().trim())
            {
                return Err(SettingsError::ExampleSecret(name, s.expose().to_owned()));
            }
        }
        for (i, (a, sa)) in secrets.iter().enumerate() {
            for (b, sb) in &secrets[i + 1..] {
                if let (Some(x), Some(y)) = (sa, sb)
                    && x == y
                {
                    return Err(SettingsError::SameSecret(a, b));
                }
            }
        }
        Ok(())
    }

    /// Settings that work but weaken the relay, for a loud warning at start-up.
    pub fn warnings(&self) -> Vec<String> {
        self.secrets()
            .into_iter()
            .filter_map(|(name, s)| Some((name, s?.expose().len())))
            .filter(|(_, len)| *len < MIN_SECRET_BYTES)
            .map(|(name, len)| {
                format!(
                    "{name} is only {len} bytes long: a short secret can be guessed offline from one token or brute-forced; use at least {MIN_SECRET_BYTES} random bytes (openssl rand -hex 32)"
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(args: &[&str]) -> Settings {
        Settings::try_parse_from(std::iter::once("notify-relay").chain(args.iter().copied()))
            .expect("settings")
    }

    #[test]
    fn placeholders_and_shared_secrets_are_refused_and_short_ones_warned_about() {
        let long = "a".repeat(MIN_SECRET_BYTES);
        let other = "b".repeat(MIN_SECRET_BYTES);
        let s = settings(&["--jwt-secret", &long, "--publish-key", &other]);
        assert!(s.validate_secrets().is_ok());
        assert!(s.warnings().is_empty());
        let s = settings(&["--publish-key", "change-me"]);
        assert!(matches!(
            s.validate_secrets(),
            Err(SettingsError::ExampleSecret(name, _)) if name.contains("NOTIFY_PUBLISH_KEY")
        ));
        let s = settings(&["--publish-key", &long, "--metrics-key", &long]);
        assert!(matches!(
            s.validate_secrets(),
            Err(SettingsError::SameSecret(_, _))
        ));
        let s = settings(&["--jwt-secret", "tiny5"]);
        let warnings = s.warnings();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("NOTIFY_JWT_SECRET") && !warnings[0].contains("tiny5"));
    }
}
