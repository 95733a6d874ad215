//! `bank config set`'s one function: a key's value checked and written into a profile.

use super::{
    AudienceParam, ConfigError, ConfigFile, USE_VALUES, Use, split_scopes, step_up_only_scope,
    validate,
};

/// Sets `key` to `value` in the file's profile `name` (`bank config set`), validating it.
pub fn set_value(
    file: &mut ConfigFile,
    name: &str,
    key: &str,
    value: &str,
) -> Result<(), ConfigError> {
    let profile = file.profiles.entry(name.to_owned()).or_default();
    let invalid = |reason: &str| ConfigError::InvalidValue {
        key: key.to_owned(),
        reason: reason.to_owned(),
    };
    match key {
        "issuer" => {
            validate(key, value)?;
            profile.issuer = Some(value.to_owned());
        }
        "api_url" => {
            validate(key, value)?;
            profile.api_url = Some(value.to_owned());
        }
        "client_id" | "audience" if value.trim().is_empty() => {
            return Err(invalid("must not be empty"));
        }
        "client_id" => profile.client_id = Some(value.to_owned()),
        "audience" => profile.audience = Some(value.to_owned()),
        "audience_param" => {
            profile.audience_param = Some(match value {
                "resource" => AudienceParam::Resource,
                "audience" => AudienceParam::Audience,
                _ => {
                    return Err(invalid(
                        "expected `resource` (RFC 8707) or `audience` (Auth0)",
                    ));
                }
            })
        }
        "scopes" => {
            let scopes = split_scopes(value);
            if scopes.is_empty() {
                return Err(invalid("must name at least one scope"));
            }
            if let Some(scope) = step_up_only_scope(&scopes) {
                return Err(invalid(&format!(
                    "`{scope}` cannot be an everyday scope: transfer tokens are obtained per transfer by `bank transfer` and never stored"
                )));
            }
            profile.scopes = Some(scopes);
        }
        "callback_port" => {
            let port: u16 = value
                .parse()
                .map_err(|_| invalid("expected a port number between 1 and 65535"))?;
            if port == 0 {
                return Err(invalid("expected a port number between 1 and 65535"));
            }
            profile.callback_port = Some(port);
        }
        "dpop" => profile.dpop = Some(Use::parse(value).ok_or_else(|| invalid(USE_VALUES))?),
        "par" => profile.par = Some(Use::parse(value).ok_or_else(|| invalid(USE_VALUES))?),
        "max_inline_payments" => {
            let max = bank_protocol::DEFAULT_MAX_BATCH_PAYMENTS;
            let n: usize = value
                .parse()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| invalid(&format!("expected a number from 0 to {max} (0: every batch is approved by its digest, as one payment_batch)")))?;
            profile.max_inline_payments = Some(n);
        }
        other => return Err(ConfigError::UnknownKey(other.to_owned())),
    }
    Ok(())
}
