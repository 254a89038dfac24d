// swift-llava's own prompts for the three kinds of instruction data: system messages and few-shot examples
// (invented scenes, captions and boxes). They ask for the same reply forms as LLaVA's: `Question:`/`===`/`Answer:`
// blocks for conversations and reasoning, plain prose for descriptions.
import Foundation

enum BuiltInPrompts {
    static let boxesExplained = """
        Besides the captions you get a list of the objects in the picture, one per line, as `category: [x1, y1, x2, y2]`. \
        The four numbers are the object's bounding box as fractions of the image's width and height, from 0 to 1: \
        the left and top edges, then the right and bottom edges. Small numbers mean left or top, large numbers right or bottom.
        """

    static let speakAsSeeing = """
        Write as someone who is looking at the photo right now. Never mention captions, sentences, boxes, coordinates \
        or lists: turn them into what can be seen — how many there are, where they are, what is next to what.
        """

    static let conversation = PromptSet(
        system: """
            You are a visual assistant who looks at one photo. The photo is given to you as five short captions written \
            by different people who saw it; treat them as what you see.

            Write a conversation between a person who asks about the photo and you, the assistant who answers. Use this \
            form exactly, with a line holding only === between every question and answer:
            Question:
            <the person's question>
            ===
            Answer:
            <your answer>
            ===
            Question:
            ...

            Ask 3 to 6 varied questions: what objects there are, how many, their colours, what people or animals are doing, \
            where things are relative to each other. Only ask what the photo answers with certainty — something clearly \
            visible, or clearly absent. Finish with one or two questions that need more than looking: background knowledge \
            about what is shown, or why the scene looks the way it does; answer those at length, in several sentences or \
            paragraphs, with reasons and examples. Never ask about details that cannot be known from the photo.
            """,
        examples: [
            .init(context: """
                A gray cat sitting on a kitchen counter next to a bowl of lemons.
                A cat perched on the counter beside a fruit bowl.
                The cat is looking out of the window above the sink.
                A kitchen with a window, a sink and a cat on the counter.
                A fluffy cat rests near the sink in a bright kitchen.
                """,
                  response: """
                Question:
                What animal is on the kitchen counter?
                ===
                Answer:
                A gray, fluffy cat is sitting on the kitchen counter.
                ===
                Question:
                What fruit is in the bowl next to the cat?
                ===
                Answer:
                The bowl next to the cat holds lemons.
                ===
                Question:
                Where is the cat looking?
                ===
                Answer:
                The cat is looking out of the window above the sink.
                ===
                Question:
                Is it a good idea to let a cat sit on a kitchen counter?
                ===
                Answer:
                Many people would rather keep cats off kitchen counters. Cats walk in their litter boxes and outdoors, so their \
                paws can carry dirt and germs onto surfaces where food is prepared. A counter can also hold things that are \
                dangerous to a cat: hot pans, sharp knives, and foods that are toxic to cats, such as onions or grapes.

                On the other hand, cats like high places with a view, and a window above the sink is an attractive spot. Owners \
                who want to keep the counter clean often give the cat another high perch near a window, such as a cat tree or \
                a shelf, and wipe the counter before cooking.
                """),
        ])

    static let detail = PromptSet(
        system: """
            You are a visual assistant who looks at one photo. The photo is given to you as five short captions written \
            by different people who saw it, and a list of objects with their positions.
            \(boxesExplained)

            Describe the photo in detail, in one to three paragraphs of plain prose: the overall scene first, then the \
            objects — how many of each, where they are, how they relate to each other — and anything people are doing.
            \(speakAsSeeing)
            """,
        examples: [
            .init(context: """
                People shopping at an outdoor fruit and vegetable market.
                A woman buys tomatoes at a market stall.
                A market stall with crates of produce under a striped awning.
                Shoppers walk between stalls full of vegetables.
                A busy street market on a sunny day.

                person: [0.412, 0.281, 0.553, 0.902]
                person: [0.061, 0.334, 0.167, 0.871]
                person: [0.802, 0.312, 0.905, 0.889]
                umbrella: [0.0, 0.0, 0.631, 0.243]
                orange: [0.224, 0.611, 0.268, 0.662]
                orange: [0.271, 0.603, 0.309, 0.655]
                handbag: [0.489, 0.552, 0.566, 0.701]
                """,
                  response: """
                This is a busy outdoor market on a sunny day. In the centre a woman stands at a stall piled with crates of \
                fruit and vegetables, buying tomatoes, with a handbag hanging at her side. A wide striped awning stretches \
                across the top left of the scene and shades the stall.

                Two more shoppers walk between the stalls, one near the left edge and one on the right, so three people are \
                in view in all. On the stall to the left of the woman, a couple of oranges sit side by side among the produce.
                """),
        ])

    static let complex = PromptSet(
        system: """
            You are a visual assistant who looks at one photo. The photo is given to you as five short captions written \
            by different people who saw it, and a list of objects with their positions.
            \(boxesExplained)

            Write one question about the photo that takes reasoning to answer, then its answer. The question should not \
            simply ask what is in the photo: it should ask why something is happening, what might happen next, what a \
            person should do, or what the scene means — so that answering needs both a careful look and background \
            knowledge. Do not give away the visual details in the question; the answer should work them out.
            Answer in detail, in a few sentences or a short paragraph, explaining the reasoning.
            \(speakAsSeeing)

            Use this form exactly:
            Question:
            <the question>
            ===
            Answer:
            <the answer>
            """,
        examples: [
            .init(context: """
                Children sit around a table with a birthday cake.
                A girl blows out the candles on her cake.
                A birthday party with balloons and a chocolate cake.
                Kids wearing paper hats at a party table.
                A cake with lit candles in front of a smiling girl.

                person: [0.356, 0.188, 0.612, 0.874]
                person: [0.021, 0.296, 0.241, 0.955]
                person: [0.733, 0.271, 0.968, 0.941]
                cake: [0.402, 0.592, 0.588, 0.781]
                dining table: [0.0, 0.55, 1.0, 1.0]
                """,
                  response: """
                Question:
                Why might the children be gathered here, and what is likely to happen next?
                ===
                Answer:
                The children are at a birthday party: they wear paper hats, balloons decorate the room, and a chocolate cake \
                with lit candles stands on the table in front of the girl in the middle. She is blowing out the candles, which \
                is usually the moment a birthday song ends and a wish is made. The two children sitting on either side are \
                the guests, waiting at the table. Next, the cake will most likely be cut and shared among the children, \
                perhaps followed by games or opening presents.
                """),
        ])
}
