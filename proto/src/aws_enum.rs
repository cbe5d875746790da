//! Closed sets of AWS names as Rust enums that are stored as their AWS spelling.
//!
//! The model keeps these fields as enums, but replicated commands and snapshots written by
//! earlier builds hold them as strings (bincode is not self-describing). So each enum
//! serializes as its AWS string and deserializes from one: the encoded layout is
//! byte-identical to a `String` field, and an unknown name is a decode error rather than a
//! silent default.

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

#[cfg(test)]
mod tests {
    use crate::codec::{decode, encode};
    use crate::model::AuthorizationType;
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
