//! Just enough of the ONNX file format to take Silero VAD's weights out of the graph
//! faster-whisper ships: a protobuf reader for `ModelProto.graph`, its float initializers and the
//! inputs of its nodes. No ONNX runtime: the network itself is written out in `net`.

use std::collections::HashMap;

/// One protobuf field: its number and its payload.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// Fixed-width payloads (wire types 1 and 5), not used by the fields read here.
    Fixed,
}

/// The fields of one protobuf message, in order; `Err` names what is malformed.
fn fields(mut bytes: &[u8]) -> Result<Vec<(u64, Field<'_>)>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let number = key >> 3;
        let field = match key & 7 {
            0 => Field::Varint(varint(&mut bytes)?),
            1 => {
                bytes = bytes.get(8..).ok_or("a 64-bit field runs past the end")?;
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(varint(&mut bytes)?).map_err(|_| "length too large")?;
                if len > bytes.len() {
                    return Err(format!(
                        "field {number} claims {len} bytes, {} remain",
                        bytes.len()
                    ));
                }
                let (payload, rest) = bytes.split_at(len);
                bytes = rest;
                Field::Bytes(payload)
            }
            5 => {
                bytes = bytes.get(4..).ok_or("a 32-bit field runs past the end")?;
                Field::Fixed
            }
            wire => return Err(format!("field {number} has unsupported wire type {wire}")),
        };
        out.push((number, field));
    }
    Ok(out)
}

fn varint(bytes: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first().ok_or("a number runs past the end")?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("a number longer than 10 bytes".into())
}

/// A float tensor from the graph's initializers.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// What the importer needs from an ONNX graph.
#[derive(Debug, Default)]
pub struct Graph {
    /// Float initializers by name (other data types are skipped).
    pub initializers: HashMap<String, FloatTensor>,
    /// Each node's operator type and input names, in graph order.
    pub nodes: Vec<(String, Vec<String>)>,
}

// Field numbers from onnx.proto.
const MODEL_GRAPH: u64 = 7;
const GRAPH_NODE: u64 = 1;
const GRAPH_INITIALIZER: u64 = 5;
const NODE_INPUT: u64 = 1;
const NODE_OP_TYPE: u64 = 4;
const TENSOR_DIMS: u64 = 1;
const TENSOR_DATA_TYPE: u64 = 2;
const TENSOR_FLOAT_DATA: u64 = 4;
const TENSOR_NAME: u64 = 8;
const TENSOR_RAW_DATA: u64 = 9;
const TENSOR_DATA_LOCATION: u64 = 14;
const DATA_TYPE_FLOAT: u64 = 1;

/// Read the graph of an ONNX model file's bytes.
pub fn read_graph(model: &[u8]) -> Result<Graph, String> {
    let graph = fields(model)?
        .into_iter()
        .find_map(|(n, f)| match (n, f) {
            (MODEL_GRAPH, Field::Bytes(b)) => Some(b),
            _ => None,
        })
        .ok_or("no graph in the file (not an ONNX model)")?;
    let mut out = Graph::default();
    for (number, field) in fields(graph)? {
        let Field::Bytes(bytes) = field else { continue };
        match number {
            GRAPH_NODE => out.nodes.push(node(bytes)?),
            GRAPH_INITIALIZER => {
                if let Some((name, tensor)) = tensor(bytes)? {
                    out.initializers.insert(name, tensor);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn text(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "a name is not UTF-8".to_string())
}

fn node(bytes: &[u8]) -> Result<(String, Vec<String>), String> {
    let (mut op, mut inputs) = (String::new(), Vec::new());
    for (number, field) in fields(bytes)? {
        match (number, field) {
            (NODE_INPUT, Field::Bytes(b)) => inputs.push(text(b)?),
            (NODE_OP_TYPE, Field::Bytes(b)) => op = text(b)?,
            _ => {}
        }
    }
    Ok((op, inputs))
}

/// A float initializer as (name, tensor); `None` for other data types.
fn tensor(bytes: &[u8]) -> Result<Option<(String, FloatTensor)>, String> {
    let (mut name, mut shape, mut data_type) = (String::new(), Vec::new(), 0);
    let (mut raw, mut floats) = (None, Vec::new());
    for (number, field) in fields(bytes)? {
        match (number, field) {
            (TENSOR_NAME, Field::Bytes(b)) => name = text(b)?,
            (TENSOR_DATA_TYPE, Field::Varint(v)) => data_type = v,
            (TENSOR_DIMS, Field::Varint(v)) => shape.push(v),
            (TENSOR_DIMS, Field::Bytes(mut packed)) => {
                while !packed.is_empty() {
                    shape.push(varint(&mut packed)?);
                }
            }
            (TENSOR_RAW_DATA, Field::Bytes(b)) => raw = Some(b),
            (TENSOR_FLOAT_DATA, Field::Bytes(b)) => floats.extend_from_slice(b),
            (TENSOR_DATA_LOCATION, Field::Varint(1)) => {
                return Err(format!("tensor {name} keeps its data in an external file"));
            }
            _ => {}
        }
    }
    if data_type != DATA_TYPE_FLOAT {
        return Ok(None);
    }
    let shape: Vec<usize> = shape
        .into_iter()
        .map(|d| usize::try_from(d).map_err(|_| format!("tensor {name}: dimension {d}")))
        .collect::<Result<_, _>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format!("tensor {name}: shape {shape:?} overflows"))?;
    let bytes = raw.unwrap_or(&floats);
    if bytes.len() != 4 * count {
        return Err(format!(
            "tensor {name}: shape {shape:?} needs {} bytes, the file holds {}",
            4 * count,
            bytes.len()
        ));
    }
    let values = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(Some((name, FloatTensor { shape, values })))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Protobuf encoding helpers for building test graphs.
    pub fn key(number: u64, wire: u64) -> Vec<u8> {
        encode_varint((number << 3) | wire)
    }

    pub fn encode_varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    pub fn bytes_field(number: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = key(number, 2);
        out.extend(encode_varint(payload.len() as u64));
        out.extend_from_slice(payload);
        out
    }

    pub fn float_tensor(name: &str, shape: &[usize], values: &[f32], packed_dims: bool) -> Vec<u8> {
        let mut t = Vec::new();
        if packed_dims {
            let dims: Vec<u8> = shape
                .iter()
                .flat_map(|&d| encode_varint(d as u64))
                .collect();
            t.extend(bytes_field(TENSOR_DIMS, &dims));
        } else {
            for &d in shape {
                t.extend(key(TENSOR_DIMS, 0));
                t.extend(encode_varint(d as u64));
            }
        }
        t.extend(key(TENSOR_DATA_TYPE, 0));
        t.extend(encode_varint(DATA_TYPE_FLOAT));
        t.extend(bytes_field(TENSOR_NAME, name.as_bytes()));
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        t.extend(bytes_field(TENSOR_RAW_DATA, &raw));
        t
    }

    pub fn model_of(initializers: &[Vec<u8>], nodes: &[(&str, &[&str])]) -> Vec<u8> {
        let mut graph = Vec::new();
        for (op, inputs) in nodes {
            let mut n = Vec::new();
            for i in *inputs {
                n.extend(bytes_field(NODE_INPUT, i.as_bytes()));
            }
            n.extend(bytes_field(NODE_OP_TYPE, op.as_bytes()));
            graph.extend(bytes_field(GRAPH_NODE, &n));
        }
        for t in initializers {
            graph.extend(bytes_field(GRAPH_INITIALIZER, t));
        }
        // An ir_version varint first, as real files have.
        let mut model = key(1, 0);
        model.extend(encode_varint(8));
        model.extend(bytes_field(MODEL_GRAPH, &graph));
        model
    }

    #[test]
    fn initializers_and_nodes_are_read_with_packed_or_unpacked_dims() {
        let model = model_of(
            &[
                float_tensor("a", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, -6.5], true),
                float_tensor("b", &[300], &[0.25; 300], false),
            ],
            &[("Conv", &["x", "a"]), ("LSTM", &["t", "W", "R", "B"])],
        );
        let graph = read_graph(&model).unwrap();
        assert_eq!(graph.initializers["a"].shape, vec![2, 3]);
        assert_eq!(graph.initializers["a"].values[5], -6.5);
        assert_eq!(graph.initializers["b"].shape, vec![300]);
        assert_eq!(graph.nodes[1].0, "LSTM");
        assert_eq!(graph.nodes[1].1, vec!["t", "W", "R", "B"]);
    }

    #[test]
    fn truncated_or_inconsistent_files_are_errors_not_panics() {
        let model = model_of(&[float_tensor("a", &[4], &[1.0; 4], true)], &[]);
        for cut in [1, 5, model.len() / 2, model.len() - 1] {
            assert!(read_graph(&model[..cut]).is_err(), "cut at {cut}");
        }
        let lying = model_of(&[float_tensor("a", &[5], &[1.0; 4], true)], &[]);
        let e = read_graph(&lying).unwrap_err();
        assert!(e.contains("needs 20 bytes"), "{e}");
        assert!(read_graph(b"not a model at all").is_err());
        assert!(read_graph(&[]).is_err());
    }
}
