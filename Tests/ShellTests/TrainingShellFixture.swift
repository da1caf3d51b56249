import Foundation

@testable import FlrShell

/// A model folder (the tiny random Florence-2 with the real tokenizer, by symlinks) and a 4-image captioning
/// dataset in a temporary folder, for the shell-level training tests.
struct TrainingShellFixture {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures").standardized
  static let images = ["photo_rocket.jpg", "photo_camera_gray.png", "photo_coffee_422.jpg", "photo_chelsea_lossy.webp"]
  static let tinyCaptions = [
    "a man in a red car on the road", "the big house at home with one man", "a small photo of the man and the car",
    "one big road in the house",
  ]

  let folder: URL
  let model: URL
  let data: URL

  /// `modelFolder`: a fixture folder with config.json + model.safetensors (its tokenizer.json, if any, is used).
  init(name: String, modelFolder: URL? = nil, captions: [String] = tinyCaptions) throws {
    let fm = FileManager.default
    folder = fm.temporaryDirectory.appendingPathComponent("flr-\(name)-\(getpid())")
    try? fm.removeItem(at: folder)
    model = folder.appendingPathComponent("model")
    data = folder.appendingPathComponent("data")
    try fm.createDirectory(at: model, withIntermediateDirectories: true)
    try fm.createDirectory(at: data, withIntermediateDirectories: true)
    let source = modelFolder ?? Self.fixtures.appendingPathComponent("model/tiny-original-safetensors")
    for file in ["config.json", "model.safetensors"] {
      try fm.createSymbolicLink(
        at: model.appendingPathComponent(file), withDestinationURL: source.appendingPathComponent(file))
    }
    try fm.createSymbolicLink(
      at: model.appendingPathComponent("tokenizer.json"),
      withDestinationURL: Self.fixtures.appendingPathComponent("tokenizer/tokenizer.json"))
    for (i, (image, caption)) in zip(Self.images, captions).enumerated() {
      let ext = (image as NSString).pathExtension
      try fm.copyItem(
        at: Self.fixtures.appendingPathComponent("images/\(image)"), to: data.appendingPathComponent("i\(i).\(ext)"))
      try caption.write(to: data.appendingPathComponent("i\(i).txt"), atomically: true, encoding: .utf8)
    }
  }

  func remove() { try? FileManager.default.removeItem(at: folder) }

  /// Deletes the image files (the captions stay): any later read of an image fails.
  func deleteImages() {
    for i in 0..<4 {
      for ext in ["jpg", "png", "webp"] {
        try? FileManager.default.removeItem(at: data.appendingPathComponent("i\(i).\(ext)"))
      }
    }
  }
}

/// A session whose outputs are kept; `onError` sees every text written to stderr (progress lines).
final class TestSession {
  let out = CapturedOutput()
  var errText = ""
  var onError: (String) -> Void = { _ in }
  /// With a progress line at every training step (`runStopped` watches them).
  lazy var session: Session = {
    let session = Session(
      out: out.output,
      err: Output { [unowned self] text in
        self.errText += text
        self.onError(text)
      })
    session.settings["progress_every"] = "0"
    return session
  }()
  lazy var interpreter = Interpreter(session: session)

  func run(_ script: String) throws { try interpreter.run(script, name: "test.flr") }

  /// Runs `script` and presses Ctrl-C when a progress line contains `progress` (e.g. " step 3/8 ").
  func runStopped(_ script: String, at progress: String) throws {
    onError = { text in if text.contains(progress) { Interrupt.simulate() } }
    defer {
      Interrupt.reset()
      onError = { _ in }
    }
    try run(script)
  }
}
