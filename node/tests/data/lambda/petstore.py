"""The PetStore as one Lambda proxy function (GET /pets, GET /pets/{petId}, POST /pets).
Every answer names the node that ran it (NODE, from the node's function definition)."""
import json
import os

PETS = {
    "1": {"id": 1, "type": "dog", "price": 249.99},
    "2": {"id": 2, "type": "cat", "price": 124.99},
    "3": {"id": 3, "type": "fish", "price": 0.99},
}


def _answer(status, value):
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "X-Node": os.environ.get("NODE", "")},
        "body": json.dumps(value),
    }


def handler(event, context):
    method, resource = event["httpMethod"], event["resource"]
    if resource == "/pets" and method == "GET":
        return _answer(200, list(PETS.values()))
    if resource == "/pets" and method == "POST":
        pet = json.loads(event["body"] or "{}")
        return _answer(201, {"pet": pet, "message": "created"})
    if resource == "/pets/{petId}" and method == "GET":
        pet = PETS.get(event["pathParameters"]["petId"])
        if pet is None:
            return _answer(404, {"message": "no such pet"})
        return _answer(200, pet)
    return _answer(400, {"message": "unsupported"})
