//! Sizes of values, and the arguments of a call read row by row, for the estimates of
//! [`super::estimates`].

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, GenericByteArray, GenericListArray, OffsetSizeTrait,
};
use datafusion::arrow::datatypes::{
    ArrowNativeType, ByteArrayType, DataType, Date32Type, Date64Type, Int64Type,
    IntervalMonthDayNanoType, IntervalUnit, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::ColumnarValue;

use crate::error::Result;

/// One argument of a call: a constant, or one value per row.
pub enum Arg<'a> {
    Scalar(ArrayRef),
    Array(&'a ArrayRef),
}

impl<'a> Arg<'a> {
    pub fn new(value: &'a ColumnarValue) -> Result<Self> {
        Ok(match value {
            ColumnarValue::Array(array) => Arg::Array(array),
            ColumnarValue::Scalar(scalar) => Arg::Scalar(single(scalar)?),
        })
    }

    fn array(&self) -> &ArrayRef {
        match self {
            Arg::Scalar(array) => array,
            Arg::Array(array) => array,
        }
    }

    /// The array row that holds row `row` of the call.
    fn index(&self, row: usize) -> usize {
        match self {
            Arg::Scalar(_) => 0,
            Arg::Array(_) => row,
        }
    }

    /// The text (or bytes) of a row; `None` for NULL or a type that is not text.
    pub fn bytes(&self, row: usize) -> Option<&[u8]> {
        let array = self.array();
        let i = self.index(row);
        if array.is_null(i) {
            return None;
        }
        match array.data_type() {
            DataType::Utf8 => Some(array.as_string::<i32>().value(i).as_bytes()),
            DataType::LargeUtf8 => Some(array.as_string::<i64>().value(i).as_bytes()),
            DataType::Utf8View => Some(array.as_string_view().value(i).as_bytes()),
            DataType::Binary => Some(array.as_binary::<i32>().value(i)),
            DataType::LargeBinary => Some(array.as_binary::<i64>().value(i)),
            DataType::BinaryView => Some(array.as_binary_view().value(i)),
            _ => None,
        }
    }

    pub fn text(&self, row: usize) -> Option<&str> {
        std::str::from_utf8(self.bytes(row)?).ok()
    }

    /// The byte length of a text row, 0 for NULL.
    pub fn len(&self, row: usize) -> u64 {
        self.bytes(row).map_or(0, |b| b.len() as u64)
    }

    /// An integer row; `None` for NULL or a type that is not an integer.
    pub fn int(&self, row: usize) -> Option<i64> {
        let array = self.array();
        let i = self.index(row);
        if array.is_null(i) {
            return None;
        }
        match array.data_type() {
            DataType::Int64 => Some(array.as_primitive::<Int64Type>().value(i)),
            t if t.is_integer() => {
                let cast =
                    datafusion::arrow::compute::cast(&array.slice(i, 1), &DataType::Int64).ok()?;
                let cast = cast.as_primitive::<Int64Type>();
                (!cast.is_null(0)).then(|| cast.value(0))
            }
            _ => None,
        }
    }

    /// A date or timestamp row as nanoseconds since the epoch.
    pub fn instant_nanos(&self, row: usize) -> Option<i128> {
        let array = self.array();
        let i = self.index(row);
        if array.is_null(i) {
            return None;
        }
        const DAY: i128 = 86_400_000_000_000;
        Some(match array.data_type() {
            DataType::Date32 => i128::from(array.as_primitive::<Date32Type>().value(i)) * DAY,
            DataType::Date64 => i128::from(array.as_primitive::<Date64Type>().value(i)) * 1_000_000,
            DataType::Timestamp(unit, _) => {
                let per = match unit {
                    TimeUnit::Second => 1_000_000_000,
                    TimeUnit::Millisecond => 1_000_000,
                    TimeUnit::Microsecond => 1_000,
                    TimeUnit::Nanosecond => 1,
                };
                let value = match unit {
                    TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(i),
                    TimeUnit::Millisecond => {
                        array.as_primitive::<TimestampMillisecondType>().value(i)
                    }
                    TimeUnit::Microsecond => {
                        array.as_primitive::<TimestampMicrosecondType>().value(i)
                    }
                    TimeUnit::Nanosecond => {
                        array.as_primitive::<TimestampNanosecondType>().value(i)
                    }
                };
                i128::from(value) * per
            }
            _ => return None,
        })
    }

    /// The shortest an interval row can be, in nanoseconds, with its sign: a month counts as
    /// 28 days forward and 31 days back, so that no real step is shorter.
    pub fn shortest_interval_nanos(&self, row: usize) -> Option<i128> {
        let array = self.array();
        let i = self.index(row);
        if array.is_null(i) {
            return None;
        }
        const DAY: i128 = 86_400_000_000_000;
        let DataType::Interval(IntervalUnit::MonthDayNano) = array.data_type() else {
            return None;
        };
        let value = array.as_primitive::<IntervalMonthDayNanoType>().value(i);
        let month = if value.months >= 0 {
            28 * DAY
        } else {
            31 * DAY
        };
        Some(
            i128::from(value.months) * month
                + i128::from(value.days) * DAY
                + i128::from(value.nanoseconds),
        )
    }

    /// What a row's value takes in memory, in bytes.
    pub fn value_bytes(&self, row: usize) -> u64 {
        let array = self.array();
        let i = self.index(row);
        value_bytes(array.as_ref(), i)
    }

    /// How many elements a list row holds (0 for NULL or not a list).
    pub fn list_len(&self, row: usize) -> u64 {
        let array = self.array();
        let i = self.index(row);
        if array.is_null(i) {
            return 0;
        }
        match array.data_type() {
            DataType::List(_) => list_range(array.as_list::<i32>(), i).len() as u64,
            DataType::LargeList(_) => list_range(array.as_list::<i64>(), i).len() as u64,
            DataType::FixedSizeList(_, n) => *n as u64,
            _ => 0,
        }
    }

    /// How many values, at any depth, a row holds once nested lists are flattened.
    pub fn leaves(&self, row: usize) -> u64 {
        let array = self.array();
        leaves(array.as_ref(), self.index(row))
    }
}

fn single(scalar: &ScalarValue) -> Result<ArrayRef> {
    Ok(scalar.to_array_of_size(1)?)
}

fn list_range<O: OffsetSizeTrait>(
    list: &GenericListArray<O>,
    row: usize,
) -> std::ops::Range<usize> {
    let offsets = list.value_offsets();
    offsets[row].as_usize()..offsets[row + 1].as_usize()
}

fn byte_len<T: ByteArrayType>(array: &GenericByteArray<T>, row: usize) -> u64 {
    let offsets = array.value_offsets();
    (offsets[row + 1].as_usize() - offsets[row].as_usize()) as u64
}

/// What row `row` of `array` takes in memory: its bytes, offsets and nested values.
pub fn value_bytes(array: &dyn Array, row: usize) -> u64 {
    match array.data_type() {
        DataType::Null => 0,
        DataType::Utf8 => 4 + byte_len(array.as_string::<i32>(), row),
        DataType::LargeUtf8 => 8 + byte_len(array.as_string::<i64>(), row),
        DataType::Binary => 4 + byte_len(array.as_binary::<i32>(), row),
        DataType::LargeBinary => 8 + byte_len(array.as_binary::<i64>(), row),
        DataType::Utf8View => 16 + array.as_string_view().value(row).len() as u64,
        DataType::BinaryView => 16 + array.as_binary_view().value(row).len() as u64,
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            4 + range_bytes(list.values().as_ref(), list_range(list, row))
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>();
            8 + range_bytes(list.values().as_ref(), list_range(list, row))
        }
        DataType::FixedSizeList(_, n) => {
            let list = array.as_fixed_size_list();
            let n = *n as usize;
            range_bytes(list.values().as_ref(), row * n..(row + 1) * n)
        }
        DataType::Map(..) => {
            let map = array.as_map();
            let offsets = map.value_offsets();
            let range = offsets[row] as usize..offsets[row + 1] as usize;
            4 + range_bytes(map.entries(), range)
        }
        DataType::Struct(_) => array
            .as_struct()
            .columns()
            .iter()
            .map(|column| value_bytes(column.as_ref(), row))
            .sum(),
        DataType::Dictionary(..) => {
            let dictionary = array.as_any_dictionary();
            let key = dictionary.normalized_keys()[row];
            4 + value_bytes(dictionary.values().as_ref(), key)
        }
        other => other
            .primitive_width()
            .map_or_else(|| fallback_bytes(array), |w| w as u64),
    }
}

fn range_bytes(values: &dyn Array, range: std::ops::Range<usize>) -> u64 {
    if let Some(width) = values.data_type().primitive_width() {
        return (range.len() * width) as u64;
    }
    range.map(|row| value_bytes(values, row)).sum()
}

/// An even share of the array's memory, for types without a finer measure.
fn fallback_bytes(array: &dyn Array) -> u64 {
    (array.get_array_memory_size() / array.len().max(1)) as u64
}

/// How many values a row holds at any depth: 1 for a plain value.
pub fn leaves(array: &dyn Array, row: usize) -> u64 {
    let nested = |values: &dyn Array, range: std::ops::Range<usize>| -> u64 {
        if values.data_type().is_nested() {
            range.map(|r| leaves(values, r)).sum()
        } else {
            range.len() as u64
        }
    };
    match array.data_type() {
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            nested(list.values().as_ref(), list_range(list, row))
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>();
            nested(list.values().as_ref(), list_range(list, row))
        }
        DataType::FixedSizeList(_, n) => {
            let n = *n as usize;
            nested(
                array.as_fixed_size_list().values().as_ref(),
                row * n..(row + 1) * n,
            )
        }
        _ => 1,
    }
}

/// The largest value of a result and what all its values take, in bytes.
pub fn result_bytes(value: &ColumnarValue) -> Result<(u64, u64)> {
    let array = match value {
        ColumnarValue::Array(array) => array.clone(),
        ColumnarValue::Scalar(scalar) => single(scalar)?,
    };
    let mut largest = 0;
    let mut total = 0;
    for row in 0..array.len() {
        let bytes = value_bytes(array.as_ref(), row);
        largest = largest.max(bytes);
        total += bytes;
    }
    Ok((largest, total))
}
