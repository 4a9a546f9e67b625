//! Column masks. Each keeps the column's name and type, and each is built from functions every
//! SQL dialect has (`substr`, `concat`, `CASE`), except the keyed hash, which runs locally.
//!
//! - ID card `330824********1234`, phone `138****5678`, name `张*`;
//! - address, bank account and other sensitive text: a keyed HMAC-SHA256 of the value, so that
//!   equal values stay joinable without being readable (a plain hash of an ID number could be
//!   reversed by trying the ~10^7 numbers of one county);
//! - sensitive values of other types (dates, numbers): NULL.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ScalarValue, exec_err};
use datafusion::error::Result;
use datafusion::functions::expr_fn::{concat, substring};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, cast,
    lit, when,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tiaokuai_catalog::model::PiiKind;

use crate::schema::is_text;

/// The keyed hash mask. It is never registered by name, so SQL cannot call it to hash guesses.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct KeyedHash {
    key: Vec<u8>,
    signature: Signature,
}

impl KeyedHash {
    pub fn udf(key: &[u8]) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::from(Self {
            key: key.to_vec(),
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        }))
    }

    fn hash(&self, value: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(value.as_bytes());
        format!("h:{}", hex::encode(&mac.finalize().into_bytes()[..12]))
    }
}

impl ScalarUDFImpl for KeyedHash {
    fn name(&self) -> &str {
        "masked_hash"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("masked_hash takes one argument");
        };
        let array: ArrayRef = value.to_array(args.number_rows)?;
        let Some(strings) = array.as_any().downcast_ref::<StringArray>() else {
            return exec_err!("masked_hash takes text");
        };
        let hashed: StringArray = strings.iter().map(|v| v.map(|s| self.hash(s))).collect();
        Ok(ColumnarValue::Array(Arc::new(hashed)))
    }
}

/// The masked form of `column` (of type `data_type`), of the same type. NULL stays NULL.
pub fn mask(
    column: Expr,
    data_type: &DataType,
    pii: Option<PiiKind>,
    hash: &Arc<ScalarUDF>,
) -> Result<Expr> {
    if !is_text(data_type) {
        return Ok(lit(ScalarValue::try_from(data_type)?));
    }
    let text = cast(column.clone(), DataType::Utf8);
    let masked = match pii {
        Some(PiiKind::IdCard) => concat(vec![
            substring(text.clone(), lit(1i64), lit(6i64)),
            lit("********"),
            substring(text, lit(15i64), lit(4i64)),
        ]),
        Some(PiiKind::Phone) => concat(vec![
            substring(text.clone(), lit(1i64), lit(3i64)),
            lit("****"),
            substring(text, lit(8i64), lit(4i64)),
        ]),
        Some(PiiKind::Name) => concat(vec![substring(text, lit(1i64), lit(1i64)), lit("*")]),
        Some(PiiKind::Address) | Some(PiiKind::BankAccount) | None => hash.call(vec![text]),
    };
    let typed = cast(masked, data_type.clone());
    when(column.is_null(), lit(ScalarValue::try_from(data_type)?)).otherwise(typed)
}
