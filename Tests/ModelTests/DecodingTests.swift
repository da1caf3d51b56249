// The KV-cache decoder step against the full-sequence decoder, and beam reordering.
import FlrCore
import XCTest

@testable import FlrModel

final class DecodingTests: XCTestCase {
  /// Same function, different grouping of the same float products: 1e-5 relative.
  let tolerance: Float = 1e-5

  func row(_ t: Tensor, _ r: Int, _ width: Int) -> Tensor {
    Tensor(shape: [width], values: Array(UnsafeBufferPointer(start: t.data + r * width, count: width)))
  }

  func testIncrementalStepsEqualFullSequence() throws {
    let model = try Florence2.load(folder: ModelFixtures.path("tiny-original-bin"))
    let ref = try ModelFixtures.reference()
    let encoderOutput = try ref.float("encoder_output")  // [2, S, d]
    let decoderIds = try ref.ids("decoder_input_ids")  // [2][T]
    let full = try model.decode(decoderInputIds: decoderIds, encoderOutput: encoderOutput)  // [2, T, V]
    let t = decoderIds[0].count, v = model.languageModel.vocabSize
    var state = model.prepareDecoding(encoderOutput: encoderOutput, beamsPerImage: 1, capacity: 2)  // grows
    for i in 0..<t {
      let logits = try model.decoderStep(tokens: [decoderIds[0][i], decoderIds[1][i]], state: &state)
      XCTAssertEqual(logits.shape, [2, v])
      for b in 0..<2 {
        let err = relativeError(row(logits, b, v), row(full, b * t + i, v))
        XCTAssertLessThan(err, tolerance, "image \(b) position \(i)")
      }
    }
    XCTAssertEqual(state.length, t)
  }

  /// 2 images x 2 beams; after two steps the beams are reordered (one image's beam duplicated, the other's
  /// swapped); each row's next logits must equal the full decoder run on that row's token history.
  func testReorderFollowsBeamHistories() throws {
    let model = try Florence2.load(folder: ModelFixtures.path("tiny-native-safetensors"))
    let ref = try ModelFixtures.reference()
    let encoderOutput = try ref.float("encoder_output")
    let v = model.languageModel.vocabSize
    var state = model.prepareDecoding(encoderOutput: encoderOutput, beamsPerImage: 2)
    var histories: [[Int32]] = [[2], [2], [2], [2]]
    _ = try model.decoderStep(tokens: [2, 2, 2, 2], state: &state)
    let second: [Int32] = [0, 5, 0, 9]
    _ = try model.decoderStep(tokens: second, state: &state)
    for r in 0..<4 { histories[r].append(second[r]) }
    let order = [1, 1, 3, 2]
    try state.reorder(order)
    histories = order.map { histories[$0] }
    XCTAssertEqual(state.imageOfRow, [0, 0, 1, 1])
    let third: [Int32] = [7, 8, 11, 12]
    let logits = try model.decoderStep(tokens: third, state: &state)
    for r in 0..<4 { histories[r].append(third[r]) }
    for r in 0..<4 {
      let image = state.imageOfRow[r]
      let one = Tensor(
        shape: [1, encoderOutput.shape[1], encoderOutput.shape[2]], values: encoderOutput[index: image].toArray())
      let full = try model.decode(decoderInputIds: [histories[r]], encoderOutput: one)  // [1, 3, V]
      XCTAssertLessThan(relativeError(row(logits, r, v), row(full, 2, v)), tolerance, "row \(r)")
    }
    XCTAssertThrowsError(try state.reorder([4]))
    XCTAssertThrowsError(try model.decoderStep(tokens: [1, 2], state: &state))
  }
}
