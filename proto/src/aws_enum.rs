//! Closed sets of AWS names as Rust enums that are stored as their AWS spelling.
//!
//! The model keeps these fields as enums, but replicated commands and snapshots written by
//! earlier builds hold them as strings. So each enum serializes as its AWS string and
//! deserializes from one: the encoding is that of a `String` field, and an unknown name is a
//! decode error rather than a silent default.
//!
//! Where earlier builds stored a field as a string without checking it against the set (so
//! old logs may hold any string there), the model holds an [`OrUnknown`] instead: a name
//! outside the set decodes as [`OrUnknown::Unknown`], kept as written, and whatever uses the
//! field fails closed on it. The node must start on any log it ever wrote.

/// Declares a fieldless enum of AWS names with `as_str` (the AWS spelling), `parse` (exact),
/// `parse_ignore_case` (ASCII case-insensitive), `ALL`, `Display`, and string-shaped serde.
#[macro_export]
macro_rules! aws_string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $aws:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The AWS spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $aws ),+
                }
            }

            /// Parses the exact AWS spelling.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $( $aws => Some($name::$variant), )+
                    _ => None,
                }
            }

            /// Parses the AWS spelling in any ASCII case.
            pub fn parse_ignore_case(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(s))
            }

            /// The AWS spellings joined with `", "`, for error messages.
            pub fn names() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl $crate::aws_enum::AwsName for $name {
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
            fn parse(s: &str) -> Option<Self> {
                $name::parse(s)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <::std::string::String as ::serde::Deserialize>::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| {
                    <D::Error as ::serde::de::Error>::custom(format!(
                        concat!("unknown ", stringify!($name), " {:?}"),
                        s
                    ))
                })
            }
        }
    };
}

/// What [`aws_string_enum!`] enums share, for [`OrUnknown`].
pub trait AwsName: Copy + Sized {
    /// The AWS spelling.
    fn as_str(self) -> &'static str;
    /// Parses the exact AWS spelling.
    fn parse(s: &str) -> Option<Self>;
}

/// A stored AWS enum field that earlier builds accepted unchecked: one of the set, or the
/// string an earlier build stored (never made by this build; empty where no value was given).
/// Stored as the AWS spelling or the string as written, so it decodes from any string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrUnknown<T> {
    /// A name of the set.
    Known(T),
    /// A string outside the set, as an earlier build stored it.
    Unknown(String),
}

impl<T: AwsName> OrUnknown<T> {
    /// The value, when it is one of the set.
    pub fn known(&self) -> Option<T> {
        match self {
            OrUnknown::Known(v) => Some(*v),
            OrUnknown::Unknown(_) => None,
        }
    }

    /// `s` as stored: the value it names, or `s` itself when it names none (for callers to
    /// refuse, with AWS's message, as [`OrUnknown::known`] tells them).
    pub fn from_name(s: &str) -> Self {
        match T::parse(s) {
            Some(v) => OrUnknown::Known(v),
            None => OrUnknown::Unknown(s.to_string()),
        }
    }

    /// The stored spelling.
    pub fn as_str(&self) -> &str {
        match self {
            OrUnknown::Known(v) => v.as_str(),
            OrUnknown::Unknown(s) => s,
        }
    }
}

impl<T> From<T> for OrUnknown<T> {
    fn from(v: T) -> Self {
        OrUnknown::Known(v)
    }
}

/// No value given: what a `String` field held by default.
impl<T> Default for OrUnknown<T> {
    fn default() -> Self {
        OrUnknown::Unknown(String::new())
    }
}

impl<T: AwsName> ::std::fmt::Display for OrUnknown<T> {
    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<T: AwsName> ::serde::Serialize for OrUnknown<T> {
    fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de, T: AwsName> ::serde::Deserialize<'de> for OrUnknown<T> {
    fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as ::serde::Deserialize>::deserialize(d)?;
        Ok(match T::parse(&s) {
            Some(v) => OrUnknown::Known(v),
            None => OrUnknown::Unknown(s),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::codec::{decode, encode};
    use crate::model::{AuthorizationType, LoggingLevel, UnauthorizedCacheControlHeaderStrategy};
    use serde::{de::DeserializeOwned, Deserialize, Serialize};

    /// A struct with the field as earlier builds wrote it, between two others.
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Old {
        before: u32,
        field: String,
        after: bool,
    }

    /// The same struct with the field as an enum.
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct New<T> {
        before: u32,
        field: T,
        after: bool,
    }

    /// Every value: the old layout decodes into the new struct, the new encodes to the same
    /// bytes, and a name outside the set is refused.
    fn same_layout_as_string<T>(all: &[T], as_str: fn(T) -> &'static str)
    where
        T: Copy + PartialEq + std::fmt::Debug + Serialize + DeserializeOwned,
    {
        for &v in all {
            let old = Old {
                before: 300,
                field: as_str(v).to_string(),
                after: true,
            };
            let new = New {
                before: 300,
                field: v,
                after: true,
            };
            let old_bytes = encode(&old);
            assert_eq!(encode(&new), old_bytes, "{v:?}");
            assert_eq!(decode::<New<T>>(&old_bytes).unwrap(), new);
        }
        let unknown = encode(&Old {
            before: 1,
            field: "NOT_A_NAME".into(),
            after: false,
        });
        assert!(decode::<New<T>>(&unknown).is_err());
    }

    #[test]
    fn authorization_type_keeps_the_string_layout() {
        same_layout_as_string(AuthorizationType::ALL, AuthorizationType::as_str);
    }

    #[test]
    fn logging_level_keeps_the_string_layout() {
        same_layout_as_string(LoggingLevel::ALL, LoggingLevel::as_str);
    }

    #[test]
    fn cache_control_strategy_keeps_the_string_layout() {
        same_layout_as_string(
            UnauthorizedCacheControlHeaderStrategy::ALL,
            UnauthorizedCacheControlHeaderStrategy::as_str,
        );
    }

    /// A whole method setting as earlier builds wrote it (with `String` fields) decodes into
    /// today's, and today's encodes to the same bytes.
    #[test]
    fn method_setting_keeps_its_layout() {
        #[derive(Serialize)]
        struct OldMethodSetting {
            metrics_enabled: bool,
            logging_level: String,
            data_trace_enabled: bool,
            throttling_burst_limit: i32,
            throttling_rate_limit: f64,
            caching_enabled: bool,
            cache_ttl_in_seconds: i32,
            cache_data_encrypted: bool,
            require_authorization_for_cache_control: bool,
            unauthorized_cache_control_header_strategy: String,
        }
        let old = encode(&OldMethodSetting {
            metrics_enabled: true,
            logging_level: "INFO".into(),
            data_trace_enabled: false,
            throttling_burst_limit: 7,
            throttling_rate_limit: 1.5,
            caching_enabled: true,
            cache_ttl_in_seconds: 60,
            cache_data_encrypted: false,
            require_authorization_for_cache_control: true,
            unauthorized_cache_control_header_strategy: "FAIL_WITH_403".into(),
        });
        let new = crate::model::MethodSetting {
            metrics_enabled: true,
            logging_level: LoggingLevel::Info,
            throttling_burst_limit: 7,
            throttling_rate_limit: 1.5,
            caching_enabled: true,
            cache_ttl_in_seconds: 60,
            unauthorized_cache_control_header_strategy:
                UnauthorizedCacheControlHeaderStrategy::FailWith403,
            ..Default::default()
        };
        assert_eq!(decode::<crate::model::MethodSetting>(&old).unwrap(), new);
        assert_eq!(encode(&new), old);
    }

    #[test]
    fn quota_period_and_key_source_keep_the_string_layout_and_any_old_string() {
        use crate::aws_enum::OrUnknown;
        use crate::model::{ApiKeySource, QuotaPeriod};
        for &p in QuotaPeriod::ALL {
            let old = Old {
                before: 1,
                field: p.as_str().to_string(),
                after: true,
            };
            let new: New<OrUnknown<QuotaPeriod>> = decode(&encode(&old)).unwrap();
            assert_eq!(new.field, OrUnknown::Known(p));
            assert_eq!(encode(&new), encode(&old));
        }
        // What earlier builds stored unchecked ("" when none was given, any word) decodes,
        // as written, and encodes back the same.
        for s in ["", "YEAR", "day"] {
            let old = Old {
                before: 1,
                field: s.to_string(),
                after: false,
            };
            let new: New<OrUnknown<QuotaPeriod>> = decode(&encode(&old)).unwrap();
            assert_eq!(new.field, OrUnknown::Unknown(s.to_string()));
            assert_eq!(new.field.known(), None);
            assert_eq!(encode(&new), encode(&old));
        }
        let k: New<OrUnknown<ApiKeySource>> = decode(&encode(&Old {
            before: 1,
            field: "AUTHORIZER".into(),
            after: true,
        }))
        .unwrap();
        assert_eq!(k.field.known(), Some(ApiKeySource::Authorizer));
    }

    #[test]
    fn authorization_type_parses() {
        assert_eq!(
            AuthorizationType::parse("AWS_IAM"),
            Some(AuthorizationType::AwsIam)
        );
        assert_eq!(AuthorizationType::parse("aws_iam"), None);
        assert_eq!(
            AuthorizationType::parse_ignore_case("none"),
            Some(AuthorizationType::None)
        );
        assert_eq!(
            AuthorizationType::parse_ignore_case("Cognito_User_Pools"),
            Some(AuthorizationType::CognitoUserPools)
        );
        assert_eq!(AuthorizationType::parse_ignore_case("NONE "), None);
        assert_eq!(
            AuthorizationType::names(),
            "NONE, AWS_IAM, CUSTOM, COGNITO_USER_POOLS"
        );
    }
}
