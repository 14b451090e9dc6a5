//! Object identifiers by name. Most come from const-oid's database (named as the RFC that
//! defines them names them); the few it lacks are defined here with where they come from.

use der::asn1::ObjectIdentifier;

pub use const_oid::db::rfc2985::{PKCS_9_AT_CHALLENGE_PASSWORD, PKCS_9_AT_EXTENSION_REQUEST};
pub use const_oid::db::rfc5280::{
    ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_BASIC_CONSTRAINTS, ID_CE_EXT_KEY_USAGE, ID_CE_KEY_USAGE,
    ID_CE_SUBJECT_ALT_NAME, ID_CE_SUBJECT_KEY_IDENTIFIER, ID_KP_CLIENT_AUTH,
    ID_KP_EMAIL_PROTECTION,
};
pub use const_oid::db::rfc5911::{
    DES_EDE_3_CBC, ID_AES_128_CBC, ID_AES_192_CBC, ID_AES_256_CBC, ID_CONTENT_TYPE, ID_DATA,
    ID_ENVELOPED_DATA, ID_MESSAGE_DIGEST, ID_SIGNED_DATA,
};
pub use const_oid::db::rfc5912::{
    ECDSA_WITH_SHA_256, ID_SHA_1, ID_SHA_256, ID_SHA_384, ID_SHA_512, RSA_ENCRYPTION,
    SHA_1_WITH_RSA_ENCRYPTION, SHA_256_WITH_RSA_ENCRYPTION, SHA_384_WITH_RSA_ENCRYPTION,
    SHA_512_WITH_RSA_ENCRYPTION,
};
pub use const_oid::db::rfc8894::{
    ID_FAIL_INFO, ID_MESSAGE_TYPE, ID_PKI_STATUS, ID_RECIPIENT_NONCE, ID_SENDER_NONCE,
    ID_TRANSACTION_ID,
};

/// desCBC (OIW, 1.3.14.3.2.7): single DES, which micromdm's SCEP client always uses.
pub const DES_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.7");

/// Microsoft's user principal name otherName (`szOID_NT_PRINCIPAL_NAME`).
pub const MS_UPN: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.20.2.3");

/// Microsoft's Certificate Request Agent extended key usage (`szOID_ENROLLMENT_AGENT`): the NDES
/// RA certificate's.
pub const MS_ENROLLMENT_AGENT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.20.2.1");

/// The SID extension of KB5014754 (`szOID_NTDS_CA_SECURITY_EXT`).
pub const MS_NTDS_CA_SECURITY_EXT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.25.2");

/// The otherName inside [`MS_NTDS_CA_SECURITY_EXT`] that holds the SID (`szOID_NTDS_OBJECTSID`).
pub const MS_NTDS_OBJECTSID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.25.2.1");

#[cfg(test)]
mod tests {
    use der::Encode;

    use super::*;

    #[test]
    fn names_stand_for_the_oids_the_standards_give() {
        // The encoding X.690 gives signedData (RFC 5652) and the text of the others.
        assert_eq!(
            ID_SIGNED_DATA.to_der().unwrap(),
            [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02]
        );
        assert_eq!(ID_TRANSACTION_ID.to_string(), "2.16.840.1.113733.1.9.7");
        assert_eq!(ID_SHA_256.to_string(), "2.16.840.1.101.3.4.2.1");
        assert_eq!(ID_AES_256_CBC.to_string(), "2.16.840.1.101.3.4.1.42");
        assert_eq!(
            PKCS_9_AT_CHALLENGE_PASSWORD.to_string(),
            "1.2.840.113549.1.9.7"
        );
        assert_eq!(MS_UPN.to_string(), "1.3.6.1.4.1.311.20.2.3");
        assert_eq!(MS_NTDS_CA_SECURITY_EXT.to_string(), "1.3.6.1.4.1.311.25.2");
    }
}
