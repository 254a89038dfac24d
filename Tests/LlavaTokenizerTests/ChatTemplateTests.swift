// Chat templates: recognised from template text, rendered as llama.cpp's built-ins render them
// (llama-chat.cpp: chatml, vicuna, llama2 with system) and as llava-hf's Jinja renders llava-1.5.
import LlavaTokenizer
import Testing

@Suite struct ChatTemplateTests {
    let conversation: [ChatMessage] = [
        ChatMessage(role: .system, text: "Be brief."),
        ChatMessage(role: .user, text: "Hi", images: 1),
        ChatMessage(role: .assistant, text: "Hello."),
        ChatMessage(role: .user, text: "Bye"),
    ]

    @Test func recognisesTheFamilies() {
        let smol = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are SmolLM<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
        #expect(ChatTemplate.recognise(smol) == ChatTemplate(.chatml, defaultSystem: "You are SmolLM"))
        #expect(ChatTemplate.recognise("{{ '<|im_start|>' + m['role'] }}") == ChatTemplate(.chatml))
        #expect(ChatTemplate.recognise("{{ bos_token + '[INST] ' + content + ' [/INST]' }}")?.kind == .llama2)
        #expect(ChatTemplate.recognise("{% if message['role'] == 'user' %}USER: {{ message['content'] }}\n{% else %}ASSISTANT: {{ message['content'] }}{{ eos_token }}{% endif %}")?.kind == .vicuna)
        #expect(ChatTemplate.recognise("{{ message['role'].upper() + ': '}}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}") == .llava15)
        #expect(ChatTemplate.recognise("{{ '<start_of_turn>' + role }}") == nil)
        #expect(ChatTemplate(name: "klingon") == nil)
    }

    @Test func rendersLikeLlamaCpp() {
        #expect(ChatTemplate(.chatml).render(conversation) ==
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n<image>\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n")
        #expect(ChatTemplate(.vicuna).render(conversation) ==
            "Be brief.\n\nUSER: <image>\nHi\nASSISTANT: Hello.</s>\nUSER: Bye\nASSISTANT:")
        #expect(ChatTemplate(.llama2).render(conversation) ==
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n<image>\nHi [/INST]Hello.</s>[INST] Bye [/INST]")
        #expect(ChatTemplate.llava15.render(conversation) == "Be brief. USER: <image>\nHi ASSISTANT: Hello. USER: Bye ASSISTANT:")
    }

    @Test func defaultSystemOnlyWhenNoneGiven() {
        let t = ChatTemplate(.chatml, defaultSystem: "Default")
        #expect(t.render([ChatMessage(role: .user, text: "x")]).hasPrefix("<|im_start|>system\nDefault<|im_end|>\n"))
        #expect(t.render(conversation).hasPrefix("<|im_start|>system\nBe brief.<|im_end|>"))
    }
}
