// Base/large-shape parity, outside CI: scripts/parity_base_large.py writes random weights at the exact base
// or large shapes and transformers' outputs into a folder; this test runs only when FLR_PARITY_DIR names it.
import FlrCheckpoints
import FlrCore
import Foundation
import XCTest

@testable import FlrModel

/// VmRSS / VmHWM of this process, GiB.
func residentGiB(_ field: String) -> Double {
  guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
  let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
  return (line.split(separator: " ").compactMap { Double($0) }.first ?? 0) / 1_048_576
}

final class BaseLargeParityTests: XCTestCase {
  /// Same bars as the tiny models: 1e-4 relative per tensor, 1e-5 on the loss.
  func testFolderFromParityScript() throws {
    guard let folder = ProcessInfo.processInfo.environment["FLR_PARITY_DIR"] else {
      throw XCTSkip("set FLR_PARITY_DIR to a folder made by scripts/parity_base_large.py")
    }
    let ref = try CheckpointSet.open(file: folder + "/reference.safetensors")
    func ids(_ name: String) throws -> [[Int32]] {
      let t = try XCTUnwrap(ref[name])
      let values = t.bytes.bindMemory(to: Int64.self)
      return (0..<t.shape[0]).map { r in (0..<t.shape[1]).map { Int32(values[r * t.shape[1] + $0]) } }
    }
    var clock = Date()
    func lap(_ what: String) {
      print(
        String(
          format: "  %@: %.2f s (resident %.2f GiB, peak %.2f GiB)", what, Date().timeIntervalSince(clock),
          residentGiB("VmRSS"), residentGiB("VmHWM")))
      clock = Date()
    }
    let model = try Florence2.load(folder: folder)
    lap("load")
    let features = try model.imageFeatures(pixelValues: ref.float32("pixel_values"))
    lap("vision + projection, 2 images")
    let encoderOutput = try model.encode(imageFeatures: features, promptIds: ids("input_ids"))
    lap("encoder")
    let labels = try ids("labels")
    let logits = try model.decode(decoderInputIds: model.decoderInputIds(labels: labels), encoderOutput: encoderOutput)
    let loss = try model.loss(logits: logits, labels: labels)
    lap("decoder + loss")
    let errors = [
      ("image features", relativeError(features, try ref.float32("image_features"))),
      ("encoder output", relativeError(encoderOutput, try ref.float32("encoder_output"))),
      ("logits", relativeError(logits, try ref.float32("logits"))),
    ]
    let wantLoss = try ref.float32("loss").data[0]
    print("\(folder): " + errors.map { "\($0.0) \($0.1)" }.joined(separator: ", ") + ", loss \(loss) vs \(wantLoss)")
    for (what, error) in errors { XCTAssertLessThan(error, 1e-4, what) }
    XCTAssertEqual(loss, wantLoss, accuracy: 1e-5)
  }
}
