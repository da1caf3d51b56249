// What the Generator promises beyond token parity: the step hook sees every decoder step and can stop the
// search between steps; bad settings and inputs are thrown errors with a message, not crashes.
import FlrCore
import FlrModel
import XCTest

@testable import FlrGenerate

final class GeneratorBehaviourTests: XCTestCase {
  func testHookSeesEveryStepAndCanStop() throws {
    let document = try GenerateFixtures.document()
    let model = try GenerateFixtures.model(document)
    let generator = Generator(model: model)
    let features = try model.imageFeatures(pixelValues: GenerateFixtures.pixelValues())
    let prompt = document.prompts[0]
    let encoderOutput = try model.encode(imageFeatures: features, promptIds: [prompt, prompt])
    let settings = generator.settings.with(numBeams: 3, maxNewTokens: 12)

    var steps: [Int] = []
    let ids = try generator.generate(encoderOutput: encoderOutput, settings: settings) { progress in
      steps.append(progress.step)
      XCTAssertEqual(progress.images, 2)
      XCTAssertEqual(progress.maxSteps, 12)
      return true
    }
    XCTAssertEqual(steps, Array(1...steps.count))
    XCTAssertLessThanOrEqual(steps.count, 12)
    XCTAssertEqual(ids.count, 2)

    var calls = 0
    XCTAssertThrowsError(
      try generator.generate(encoderOutput: encoderOutput, settings: settings) { _ in
        calls += 1
        return calls < 3
      }
    ) { error in
      guard case GenerationError.cancelled = error else { return XCTFail("expected .cancelled, got \(error)") }
    }
    XCTAssertEqual(calls, 3)
  }

  func testBadSettingsAreErrors() throws {
    let document = try GenerateFixtures.document()
    let model = try GenerateFixtures.model(document)
    let generator = Generator(model: model)
    let encoderOutput = Tensor(zeros: [1, 4, model.languageModel.dim])
    for bad in [
      generator.settings.with(numBeams: 0), generator.settings.with(maxNewTokens: 0),
      generator.settings.with(maxNewTokens: model.config.text.maxPositionEmbeddings + 5),
    ] {
      XCTAssertThrowsError(try generator.generate(encoderOutput: encoderOutput, settings: bad)) { error in
        XCTAssertTrue(error is GenerationError, "\(error)")
      }
    }
    XCTAssertThrowsError(
      try generator.generate(encoderOutput: Tensor(zeros: [1, 4, 3]), settings: generator.settings))
  }
}
