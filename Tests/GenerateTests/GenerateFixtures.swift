// Loads Tests/Fixtures/generate/, written by scripts/fixtures/generate.py from transformers' `generate` on a
// tiny random Florence-2 (model.py's builder, cross-attention and embeddings scaled so outputs depend on
// image, prompt and beam width).
import FlrCheckpoints
import FlrCore
import FlrModel
import FlrTokenizer
import Foundation

@testable import FlrGenerate

enum GenerateFixtures {
  static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures/generate").standardized
  static let tokenizerFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures/tokenizer").standardized

  struct Case: Decodable {
    let eos_bias: Float
    let prompt: Int
    let beams: Int
    let max_new_tokens: Int
    let output_ids: [[Int32]]
    let decoded: [String]
    let captions: [String]
  }

  struct Document: Decodable {
    let source: String
    let model_folder: String
    let prompts: [[Int32]]
    let cases: [Case]
  }

  static func document() throws -> Document {
    try JSONDecoder().decode(Document.self, from: Data(contentsOf: folder.appendingPathComponent("cases.json")))
  }

  static func model(_ document: Document) throws -> Florence2 {
    try Florence2.load(folder: folder.appendingPathComponent(document.model_folder).path)
  }

  /// The fixture model, its generator and the two photos' image features.
  struct Loaded {
    let model: Florence2
    let generator: Generator
    let features: Tensor
    /// Sets final_logits_bias[</s>] to its loaded value + `delta` (a case's `eos_bias`, added to the same
    /// weights as generate.py does).
    let setEosBias: (Float) -> Void
  }

  /// Runs `body` on the loaded fixture model; final_logits_bias[</s>] has its loaded value again after.
  static func withLoaded(_ document: Document, _ body: (Loaded) throws -> Void) throws {
    let model = try model(document)
    let generator = Generator(model: model)
    let features = try model.imageFeatures(pixelValues: pixelValues())
    let bias = model.languageModel.finalLogitsBias.data
    let eos = Int(generator.settings.eosTokenId)
    let originalEosBias = bias[eos]
    defer { bias[eos] = originalEosBias }
    try body(Loaded(model: model, generator: generator, features: features) { bias[eos] = originalEosBias + $0 })
  }

  /// The two photos as the processor's pixel_values [2, 3, 768, 768]: each stored uint8 image [h, h, 3] is
  /// enlarged to 768² by pixel repetition (so the processor's bicubic resize is the identity) and normalised
  /// as CLIPImageProcessor does, (x · 1/255 − mean) / std in float32.
  static func pixelValues() throws -> Tensor {
    let (tensors, _) = try SafetensorsReader.read(path: folder.appendingPathComponent("images.safetensors").path)
    let mean: [Float] = [0.485, 0.456, 0.406]
    let std: [Float] = [0.229, 0.224, 0.225]
    let side = 768
    let out = Tensor(zeros: [2, 3, side, side])
    for (n, name) in ["image0_u8", "image1_u8"].enumerated() {
      guard let t = tensors.first(where: { $0.name == name }), t.shape.count == 3, t.shape[2] == 3,
        t.shape[0] == t.shape[1], side % t.shape[0] == 0
      else { throw GenerationTestError("images.safetensors: \(name) missing or not a square [h, h, 3] image") }
      let h = t.shape[0], repeatFactor = side / h
      let bytes = t.bytes.bindMemory(to: UInt8.self)
      for c in 0..<3 {
        let plane = out.data + (n * 3 + c) * side * side
        for y in 0..<side {
          for x in 0..<side {
            let value = Float(bytes[((y / repeatFactor) * h + x / repeatFactor) * 3 + c])
            plane[y * side + x] = (value * Float(1.0 / 255.0) - mean[c]) / std[c]
          }
        }
      }
    }
    return out
  }

  static func tokenizer() throws -> BartTokenizer { try BartTokenizer(folder: tokenizerFolder) }
}

struct GenerationTestError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
