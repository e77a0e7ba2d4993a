"""The official `openai` Python client against a running shopkeep server.

Run by tests/openai.rs with SHOPKEEP_BASE (e.g. http://127.0.0.1:PORT/v1),
SHOPKEEP_KEY (an admin key) and SHOPKEEP_MODEL (the loaded chat model id).
Each test talks to the real server and the real model.
"""

import json
import math
import os
import unittest

import openai

BASE = os.environ["SHOPKEEP_BASE"]
KEY = os.environ["SHOPKEEP_KEY"]
MODEL = os.environ["SHOPKEEP_MODEL"]
EMBEDDING_MODEL = "all-minilm-l6-v2"

client = openai.OpenAI(base_url=BASE, api_key=KEY, max_retries=0, timeout=600)

SYSTEM = {"role": "system", "content": "You are a helpful assistant. Answer in one word."}

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search_products",
            "description": "Search the shop's catalog for products",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "maxLength": 40},
                    "max_price": {"type": "number"},
                },
                "required": ["query"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "add_to_cart",
            "description": "Add a product to the shopper's cart",
            "parameters": {
                "type": "object",
                "properties": {
                    "product": {"type": "string", "maxLength": 40},
                    "quantity": {"type": "integer"},
                },
                "required": ["product", "quantity"],
            },
        },
    },
]


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


class Models(unittest.TestCase):
    def test_lists_the_chat_and_embedding_models(self):
        ids = [m.id for m in client.models.list().data]
        self.assertIn(MODEL, ids)
        self.assertIn(EMBEDDING_MODEL, ids)


class Chat(unittest.TestCase):
    def test_plain_chat_answers_and_counts_usage(self):
        reply = client.chat.completions.create(
            model=MODEL,
            messages=[SYSTEM, {"role": "user", "content": "What is the capital of France?"}],
            temperature=0,
            max_tokens=8,
        )
        choice = reply.choices[0]
        self.assertIn("Paris", choice.message.content)
        self.assertEqual(choice.message.role, "assistant")
        self.assertEqual(choice.finish_reason, "stop")
        self.assertGreater(reply.usage.prompt_tokens, 10)
        self.assertGreater(reply.usage.completion_tokens, 0)
        self.assertEqual(
            reply.usage.total_tokens, reply.usage.prompt_tokens + reply.usage.completion_tokens
        )

    def test_streaming_gives_the_same_text_as_one_reply(self):
        messages = [SYSTEM, {"role": "user", "content": "Name a yellow fruit."}]
        whole = client.chat.completions.create(
            model=MODEL, messages=messages, temperature=0, max_tokens=12
        )
        stream = client.chat.completions.create(
            model=MODEL,
            messages=messages,
            temperature=0,
            max_tokens=12,
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces, finish, usage = [], None, None
        for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.delta.content:
                    pieces.append(choice.delta.content)
                if choice.finish_reason:
                    finish = choice.finish_reason
        self.assertGreaterEqual(len(pieces), 1)
        self.assertEqual("".join(pieces), whole.choices[0].message.content)
        self.assertEqual(finish, whole.choices[0].finish_reason)
        self.assertEqual(usage.completion_tokens, whole.usage.completion_tokens)

    def test_a_required_tool_call_names_a_tool_with_valid_arguments(self):
        reply = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Put 3 jars of honey in my cart."}],
            tools=TOOLS,
            tool_choice="required",
            temperature=0,
            max_tokens=64,
        )
        choice = reply.choices[0]
        self.assertEqual(choice.finish_reason, "tool_calls")
        call = choice.message.tool_calls[0]
        self.assertEqual(call.type, "function")
        self.assertIn(call.function.name, {"search_products", "add_to_cart"})
        arguments = json.loads(call.function.arguments)
        if call.function.name == "add_to_cart":
            self.assertIsInstance(arguments["quantity"], int)
            self.assertIn("honey", arguments["product"].lower())
        else:
            self.assertIsInstance(arguments["query"], str)

    def test_with_tool_choice_auto_the_model_decides(self):
        def ask(text, stream=False):
            return client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": text}],
                tools=TOOLS,
                temperature=0,
                max_tokens=64,
                stream=stream,
            )

        wants_a_tool = ask("Put 3 jars of honey in my cart.").choices[0]
        self.assertEqual(wants_a_tool.finish_reason, "tool_calls")
        call = wants_a_tool.message.tool_calls[0]
        self.assertEqual(call.function.name, "add_to_cart")
        self.assertEqual(json.loads(call.function.arguments)["quantity"], 3)

        chat = ask("Hello, how are you?").choices[0]
        self.assertEqual(chat.finish_reason, "stop")
        self.assertFalse(chat.message.tool_calls)
        self.assertTrue(chat.message.content.strip())

        streamed_calls, finish = [], None
        for chunk in ask("Put 3 jars of honey in my cart.", stream=True):
            for choice in chunk.choices:
                streamed_calls.extend(choice.delta.tool_calls or [])
                finish = choice.finish_reason or finish
        self.assertEqual(finish, "tool_calls")
        self.assertEqual(streamed_calls[0].function.name, "add_to_cart")
        self.assertEqual(streamed_calls[0].function.arguments, call.function.arguments)

    def test_a_named_tool_is_the_one_called(self):
        reply = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Any cheap olive oil?"}],
            tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "search_products"}},
            temperature=0,
            max_tokens=64,
        )
        call = reply.choices[0].message.tool_calls[0]
        self.assertEqual(call.function.name, "search_products")
        self.assertIsInstance(json.loads(call.function.arguments)["query"], str)

    def test_json_schema_output_parses_and_conforms(self):
        schema = {
            "type": "object",
            "properties": {
                "product": {"type": "string", "maxLength": 40},
                "price": {"type": "number"},
                "in_stock": {"type": "boolean"},
            },
            "required": ["product", "price", "in_stock"],
        }
        reply = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Describe a loaf of sourdough bread for sale as JSON."}],
            response_format={"type": "json_schema", "json_schema": {"name": "offer", "schema": schema}},
            temperature=0,
            max_tokens=96,
        )
        offer = json.loads(reply.choices[0].message.content)
        self.assertIsInstance(offer["product"], str)
        self.assertIsInstance(offer["price"], (int, float))
        self.assertIsInstance(offer["in_stock"], bool)


class Embeddings(unittest.TestCase):
    def test_embeddings_are_unit_vectors_that_know_cheese_from_bicycles(self):
        # The client asks for base64 unless told otherwise; ask for both.
        texts = ["aged cheddar cheese", "a wheel of gouda", "mountain bicycle"]
        as_base64 = client.embeddings.create(model=EMBEDDING_MODEL, input=texts)
        as_floats = client.embeddings.create(
            model=EMBEDDING_MODEL, input=texts, encoding_format="float"
        )
        vectors = [d.embedding for d in as_base64.data]
        self.assertEqual(len(vectors), 3)
        self.assertEqual(len(vectors[0]), 384)
        for a, b in zip(vectors, (d.embedding for d in as_floats.data)):
            self.assertTrue(all(abs(x - y) < 1e-6 for x, y in zip(a, b)))
        self.assertAlmostEqual(math.sqrt(sum(x * x for x in vectors[0])), 1.0, places=4)
        self.assertGreater(cosine(vectors[0], vectors[1]), cosine(vectors[0], vectors[2]))
        self.assertGreater(as_base64.usage.prompt_tokens, 0)


class Errors(unittest.TestCase):
    def test_an_unknown_model_is_not_found(self):
        with self.assertRaises(openai.NotFoundError) as raised:
            client.chat.completions.create(
                model="no-such-model", messages=[{"role": "user", "content": "hi"}]
            )
        self.assertIn("no-such-model", str(raised.exception))

    def test_a_bad_key_is_refused(self):
        stranger = openai.OpenAI(base_url=BASE, api_key="shk_not_a_real_key", max_retries=0)
        with self.assertRaises(openai.AuthenticationError):
            stranger.models.list()
        with self.assertRaises(openai.AuthenticationError):
            stranger.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}]
            )

    def test_an_oversized_request_is_refused_whole(self):
        with self.assertRaises(openai.APIStatusError) as raised:
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "x" * 3_000_000}]
            )
        self.assertEqual(raised.exception.status_code, 413)

    def test_a_prompt_longer_than_the_context_names_the_field(self):
        with self.assertRaises(openai.BadRequestError) as raised:
            client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": "cheese " * 6000}],
                max_tokens=10,
            )
        self.assertIn("context", str(raised.exception))

    def test_bad_parameters_name_the_field(self):
        with self.assertRaises(openai.BadRequestError) as raised:
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], top_p=0
            )
        self.assertIn("top_p", str(raised.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2)
